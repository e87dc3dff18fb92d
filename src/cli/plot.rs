//! SVG plots: KPI margins along a sweep, failing-KPI counts over a pareto grid, decode rate
//! per tier of a ladder.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use std::path::Path;

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn e<E: std::fmt::Display>(x: E) -> String {
    format!("cannot draw the plot: {x}")
}

fn bounds(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        return (lo - 1.0, hi + 1.0);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// Margin (percent of budget) of every KPI along a sweep; the zero line is the pass/fail edge.
pub fn sweep(
    path: &Path,
    title: &str,
    x_desc: &str,
    xs: &[f64],
    series: &[(String, Vec<Option<f64>>)],
) -> Result<(), String> {
    let root = SVGBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let (x0, x1) = bounds(xs.iter().copied());
    // very negative margins would squash the interesting band; clip at -200 %
    let (y0, y1) = bounds(series.iter().flat_map(|(_, v)| v.iter().flatten().map(|m| m.max(-200.0))).chain([0.0]));
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e)?;
    chart.configure_mesh().x_desc(x_desc).y_desc("margin, % of budget").draw().map_err(e)?;
    chart.draw_series(LineSeries::new([(x0, 0.0), (x1, 0.0)], BLACK.stroke_width(2))).map_err(e)?;
    for (i, (name, ys)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = xs.iter().zip(ys).filter_map(|(x, y)| y.map(|y| (*x, y.max(-200.0)))).collect();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(e)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}

/// Failing-KPI count per grid cell (`fails[y][x]`).
pub fn heatmap(
    path: &Path,
    title: &str,
    x: (&str, &[f64]),
    y: (&str, &[f64]),
    fails: &[Vec<u32>],
) -> Result<(), String> {
    let root = SVGBackend::new(path, (900, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let (nx, ny) = (x.1.len(), y.1.len());
    let max = fails.iter().flatten().copied().max().unwrap_or(0).max(1);
    let xs = x.1.to_vec();
    let ys = y.1.to_vec();
    let fmt = |v: f64| crate::numeric::py_float_repr(crate::numeric::py_round(v, 3));
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..nx as f64 - 0.5, -0.5f64..ny as f64 - 0.5)
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(x.0)
        .y_desc(y.0)
        .x_labels(nx.min(12))
        .y_labels(ny.min(12))
        .x_label_formatter(&|v| {
            let i = v.round();
            if (v - i).abs() < 0.01 && i >= 0.0 {
                xs.get(i as usize).map(|x| fmt(*x)).unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|v| {
            let i = v.round();
            if (v - i).abs() < 0.01 && i >= 0.0 {
                ys.get(i as usize).map(|y| fmt(*y)).unwrap_or_default()
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(e)?;
    let cells = fails.iter().enumerate().flat_map(|(j, row)| {
        row.iter().enumerate().map(move |(i, &f)| {
            let t = f64::from(f) / f64::from(max);
            let c = RGBColor((60.0 + 195.0 * t) as u8, (190.0 - 150.0 * t) as u8, (90.0 - 50.0 * t) as u8);
            Rectangle::new([(i as f64 - 0.5, j as f64 - 0.5), (i as f64 + 0.5, j as f64 + 0.5)], c.filled())
        })
    });
    chart.draw_series(cells).map_err(e)?;
    if nx * ny <= 400 {
        let labels = fails.iter().enumerate().flat_map(|(j, row)| {
            row.iter().enumerate().map(move |(i, &f)| {
                Text::new(f.to_string(), (i as f64 - 0.1, j as f64 + 0.1), ("sans-serif", 14).into_font().color(&WHITE))
            })
        });
        chart.draw_series(labels).map_err(e)?;
    }
    root.present().map_err(e)
}

/// Decode tok/s per tier, labelled with the source badge.
pub fn ladder(path: &Path, title: &str, bars: &[(String, Option<f64>, String)]) -> Result<(), String> {
    let root = SVGBackend::new(path, (1100, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let n = bars.len().max(1);
    let ymax = bars.iter().filter_map(|b| b.1).fold(0.0f64, f64::max).max(1.0) * 1.15;
    let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(60)
        .build_cartesian_2d((0..n).into_segmented(), 0f64..ymax)
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc("decode tok/s")
        .x_labels(n)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => names.get(*i).cloned().unwrap_or_default(),
            SegmentValue::Last => String::new(),
        })
        .draw()
        .map_err(e)?;
    chart
        .draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
            b.1.map(|v| {
                let mut r = Rectangle::new(
                    [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), v)],
                    PALETTE[0].mix(0.8).filled(),
                );
                r.set_margin(0, 0, 8, 8);
                r
            })
        }))
        .map_err(e)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let label = match b.1 {
                Some(v) => format!("{} {}", crate::numeric::py_float_repr(crate::numeric::py_round(v, 2)), b.2),
                None => b.2.clone(),
            };
            Text::new(label, (SegmentValue::CenterOf(i), b.1.unwrap_or(0.0) + ymax * 0.02), ("sans-serif", 13))
        }))
        .map_err(e)?;
    root.present().map_err(e)
}
