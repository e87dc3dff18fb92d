//! Prints a compiled project program (debugging aid): generic, or specialised for a tier
//! and model given as arguments.
fn main() {
    let e = ratchet::Engine::embedded().unwrap_or_else(|r| panic!("{r:?}"));
    let e = e.with_rule_set("ratchet-0.3.2").unwrap_or_else(|e| panic!("{e}"));
    let args: Vec<String> = std::env::args().collect();
    let p = if args.len() == 3 {
        let t = e.tier(&args[1]).unwrap_or_else(|e| panic!("{e}"));
        let m = e.model(&args[2]).unwrap_or_else(|e| panic!("{e}"));
        let known = ratchet::rules::compile::Known { hw: t, model: Some(m), registry: e.registry() };
        let tables = ratchet::engine::registry_tables(e.registry());
        ratchet::rules::compile::specialise(
            &e.rule_set().rules,
            &tables,
            ratchet::rules::compile::EntryKind::Project,
            known,
        )
        .unwrap_or_else(|e| panic!("{e:?}"))
        .program
    } else {
        e.rule_set().project.program.clone()
    };
    print!("{}", p.dump());
}
