//! A catalog entry from a GGUF file's header: the shape from its metadata (read through the
//! same table as a config, `{arch}` standing for its `general.architecture`), the parameters
//! and bytes of every group from its tensor table and ggml's block layouts — exact, not
//! estimated from a bytes-per-parameter constant.

use super::build::{assemble, read_shape};
use super::gguf::{Header, read_header};
use super::{Config, ImportOptions, Imported, Reader, TensorGroup};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::formats::architectures::GROUPS;
use crate::registry::Registry;
use serde_json::{Map, Value};

fn err(name: &str, message: String) -> Vec<Diagnostic> {
    vec![Diagnostic::error("gguf", message).in_file(name.to_string())]
}

/// The metadata as the table's keys read it: `<arch>.x` also as `{arch}.x`, and every array
/// also as `<key>.len`.
fn flat_metadata(h: &Header, arch: &str) -> Value {
    let mut root = Map::new();
    let prefix = format!("{arch}.");
    for (k, v) in &h.metadata {
        let len = match v {
            Value::Array(a) => Some(a.len() as u64),
            Value::Object(o) => o.get("len").and_then(Value::as_u64),
            _ => None,
        };
        if let Some(n) = len {
            root.insert(format!("{k}.len"), Value::from(n));
        }
        if let Some(rest) = k.strip_prefix(&prefix) {
            root.insert(format!("{{arch}}.{rest}"), v.clone());
        }
        root.insert(k.clone(), v.clone());
    }
    Value::Object(root)
}

/// A group being summed: parameters, bytes, and bytes per ggml type name.
struct Sum {
    group: &'static str,
    params: f64,
    bytes: f64,
    types: Vec<(String, f64)>,
}

/// Parameters and bytes per group, from the tensor table.
fn tensor_groups(reg: &Registry, name: &str, h: &Header) -> Result<Vec<TensorGroup>, Vec<Diagnostic>> {
    let table = reg.architectures();
    let mut acc: Vec<Sum> = Vec::new();
    for t in &h.tensors {
        let Some(ty) = table.ggml_types.iter().find(|g| g.id == t.ggml_type) else {
            return Err(err(
                name,
                format!(
                    "tensor `{}` has ggml type {}, which tables/architectures.ron `ggml_types` lacks",
                    t.name, t.ggml_type
                ),
            ));
        };
        let group = table
            .tensor_groups
            .iter()
            .find(|g| t.name.contains(&g.contains))
            .and_then(|g| GROUPS.iter().find(|x| **x == g.group))
            .copied()
            .unwrap_or("other");
        let n = t.elements();
        let block = u64::from(ty.block.max(1));
        let bytes = n.div_ceil(block).saturating_mul(u64::from(ty.bytes)) as f64;
        let i = match acc.iter().position(|s| s.group == group) {
            Some(i) => i,
            None => {
                acc.push(Sum { group, params: 0.0, bytes: 0.0, types: Vec::new() });
                acc.len() - 1
            }
        };
        let slot = &mut acc[i];
        slot.params += n as f64;
        slot.bytes += bytes;
        match slot.types.iter_mut().find(|(n, _)| *n == ty.name) {
            Some(e) => e.1 += bytes,
            None => slot.types.push((ty.name.clone(), bytes)),
        }
    }
    Ok(acc
        .into_iter()
        .filter(|s| s.params > 0.0)
        .map(|mut s| {
            s.types.sort_by(|a, b| b.1.total_cmp(&a.1));
            let quant = s.types.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join("+");
            TensorGroup { group: s.group, params: s.params, quant, bytes_per_param: s.bytes / s.params }
        })
        .collect())
}

/// Imports the GGUF file `name` whose first bytes (the whole header at least) are `bytes`.
pub fn import_gguf(
    reg: &Registry,
    name: &str,
    bytes: &[u8],
    opts: &ImportOptions,
) -> Result<Imported, Vec<Diagnostic>> {
    let h = read_header(bytes).map_err(|e| err(name, format!("byte {}: {}", e.offset, e.message)))?;
    let table = reg.architectures();
    let Some(arch) = h.metadata.get("general.architecture").and_then(Value::as_str) else {
        return Err(err(name, "the header has no `general.architecture`".into()));
    };
    let Some(g) = table.gguf_architectures.get(arch) else {
        let help = did_you_mean(arch, table.gguf_architectures.keys().map(String::as_str));
        return Err(vec![
            Diagnostic::error(
                "unknown-architecture",
                format!("GGUF architecture `{arch}` is not in tables/architectures.ron `gguf_architectures`"),
            )
            .with_help(help)
            .in_file(name.to_string()),
        ]);
    };
    let Some(entry) = table.architectures.get(&g.architecture) else {
        return Err(err(
            name,
            format!("`gguf_architectures.{arch}` names `{}`, which `architectures` lacks", g.architecture),
        ));
    };
    let mut entry = entry.clone();
    if let Some(l) = &g.layers {
        entry.layers = l.clone();
    }
    if opts.quant.is_some() {
        return Err(err(name, "a GGUF file's storage is its tensor table's: `--quant` applies to configs".into()));
    }
    let root = flat_metadata(&h, arch);
    let cfg = Config::from_value(&root, name);
    let mut r = Reader { cfg: &cfg, table, arch: &entry, root: &root, prefix: Vec::new(), errors: Vec::new() };
    let shape = read_shape(&mut r, arch, false);
    let Some(shape) = shape.filter(|_| r.errors.is_empty()) else { return Err(std::mem::take(&mut r.errors)) };
    let groups = tensor_groups(reg, name, &h)?;
    let file_type = h.metadata.get("general.file_type").and_then(Value::as_u64);
    let Some(quant) = file_type.and_then(|f| table.gguf_file_types.get(&f.to_string())) else {
        return Err(err(
            name,
            format!("`general.file_type` {file_type:?} is not in tables/architectures.ron `gguf_file_types`"),
        ));
    };
    let Some(scheme) = table.scheme(reg.quant_schemes(), quant) else {
        return Err(err(name, format!("file type `{quant}` is in neither quant_schemes.ron nor `gguf_schemes`")));
    };
    let compute = scheme.requant.as_ref().map(|q| q.compute_dtype.clone()).unwrap_or_else(|| "fp16".into());
    let mut shape = shape;
    // a file without an output matrix reads the embedding as its output
    let has_output = h.tensors.iter().any(|t| t.name == "output.weight");
    shape.set_tied(!has_output);
    let notes =
        vec![format!("{} tensors, {} metadata entries, GGUF v{}", h.tensors.len(), h.metadata.len(), h.version)];
    let imported = assemble(&r, arch, opts, &shape, groups, (quant.clone(), compute), notes);
    let found: Vec<Diagnostic> = reg.check_model(&imported.model).into_iter().filter(Diagnostic::is_error).collect();
    if found.is_empty() { Ok(imported) } else { Err(found) }
}
