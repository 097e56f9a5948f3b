//! Results of a run: medians with min-max per scenario and stack, tables with ratios, the
//! JSON report and an SVG chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::net::{Kind, RAW_UDP, SEALED_UDP};
use crate::scenarios::Metrics;

/// What a scenario measures first, and which way is better.
pub struct Primary {
    /// Metric name.
    pub metric: &'static str,
    /// True when more is better (throughput), false when less is (time, CPU, memory).
    pub higher_is_better: bool,
}

/// All rounds of one scenario.
pub struct ScenarioResult {
    /// Short name (JSON key).
    pub name: String,
    /// Line above its table.
    pub title: String,
    /// The metric ratios are taken of.
    pub primary: Primary,
    /// Other metrics shown in the table.
    pub shown: Vec<&'static str>,
    /// Per stack, in run order: its kind and the metrics of every measured round.
    pub stacks: Vec<(&'static str, Kind, Vec<Metrics>)>,
}

/// Median, min and max of one metric over rounds.
#[derive(Clone, Copy)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

fn summarize(rounds: &[Metrics], metric: &str) -> Option<Summary> {
    let mut values: Vec<f64> = rounds
        .iter()
        .filter_map(|m| m.get(metric).copied())
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(Summary {
        median: values[values.len() / 2],
        min: values[0],
        max: values[values.len() - 1],
    })
}

impl ScenarioResult {
    /// Median of the primary metric per stack.
    pub fn primary_medians(&self) -> Vec<(&'static str, Kind, Option<f64>)> {
        self.stacks
            .iter()
            .map(|(name, kind, rounds)| {
                (
                    *name,
                    *kind,
                    summarize(rounds, self.primary.metric).map(|s| s.median),
                )
            })
            .collect()
    }

    /// The best stack other than `name` (floors excluded) by the primary metric.
    fn best_other(&self, name: &str) -> Option<f64> {
        let medians = self.primary_medians();
        let others = medians
            .iter()
            .filter(|(n, kind, _)| *n != name && *kind == Kind::Stack)
            .filter_map(|(_, _, v)| *v);
        if self.primary.higher_is_better {
            others.reduce(f64::max)
        } else {
            others.reduce(f64::min)
        }
    }

    fn median_of(&self, stack: &str) -> Option<f64> {
        self.primary_medians()
            .into_iter()
            .find(|(n, _, _)| *n == stack)
            .and_then(|(_, _, v)| v)
    }

    /// A text table: each stack's primary metric (median, min-max), its ratio to the floors
    /// and to the best other stack, then the other metrics' medians.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\n## {} ({})", self.title, self.name);
        let mut header = format!(
            "| stack | {} median [min-max] | x {RAW_UDP} | x {SEALED_UDP} | x best other |",
            self.primary.metric
        );
        for metric in &self.shown {
            let _ = write!(header, " {metric} |");
        }
        let _ = writeln!(out, "{header}");
        let _ = writeln!(out, "|{}", "---|".repeat(5 + self.shown.len()));
        let raw = self.median_of(RAW_UDP);
        let sealed = self.median_of(SEALED_UDP);
        for (name, kind, rounds) in &self.stacks {
            let Some(primary) = summarize(rounds, self.primary.metric) else {
                let _ = writeln!(out, "| {name} | failed |  |  |  |");
                continue;
            };
            let ratio = |base: Option<f64>| match base {
                Some(b) if b > 0.0 => format!("{:.2}", primary.median / b),
                _ => "-".into(),
            };
            let best = if *kind == Kind::Stack {
                ratio(self.best_other(name))
            } else {
                "-".into()
            };
            let mut row = format!(
                "| {name} | {} [{}-{}] | {} | {} | {best} |",
                fmt(primary.median),
                fmt(primary.min),
                fmt(primary.max),
                ratio(raw),
                ratio(sealed)
            );
            for metric in &self.shown {
                let cell = summarize(rounds, metric).map_or("-".into(), |s| fmt(s.median));
                let _ = write!(row, " {cell} |");
            }
            let _ = writeln!(out, "{row}");
        }
        out
    }

    /// scenario -> stack -> metric -> value (medians; `_min`/`_max` beside each).
    pub fn json(&self) -> Value {
        let mut stacks = Map::new();
        for (name, kind, rounds) in &self.stacks {
            let mut metrics = Map::new();
            let names: std::collections::BTreeSet<&str> =
                rounds.iter().flat_map(|m| m.keys().copied()).collect();
            for metric in names {
                if let Some(s) = summarize(rounds, metric) {
                    metrics.insert(metric.into(), json!(s.median));
                    metrics.insert(format!("{metric}_min"), json!(s.min));
                    metrics.insert(format!("{metric}_max"), json!(s.max));
                }
            }
            metrics.insert("rounds".into(), json!(rounds.len()));
            metrics.insert("baseline".into(), json!(*kind == Kind::Baseline));
            stacks.insert((*name).into(), Value::Object(metrics));
        }
        Value::Object(stacks)
    }
}

/// One line per scenario: every stack's primary median, and ours relative to the best other
/// stack and to the encrypted floor ("x" = ours divided by it; see each metric's direction).
pub fn summary(results: &[ScenarioResult], ours: &str) -> String {
    let mut out = String::from("\n## Summary (medians)\n");
    let Some(first) = results.first() else {
        return out;
    };
    let names: Vec<&str> = first.stacks.iter().map(|s| s.0).collect();
    let _ = write!(out, "| scenario | metric |");
    for name in &names {
        let _ = write!(out, " {name} |");
    }
    let _ = writeln!(out, " ours x best other | ours x {SEALED_UDP} |");
    let _ = writeln!(out, "|{}", "---|".repeat(names.len() + 4));
    for result in results {
        let direction = if result.primary.higher_is_better {
            "higher is better"
        } else {
            "lower is better"
        };
        let _ = write!(
            out,
            "| {} | {} ({direction}) |",
            result.name, result.primary.metric
        );
        let medians = result.primary_medians();
        for name in &names {
            let value = medians.iter().find(|m| m.0 == *name).and_then(|m| m.2);
            let _ = write!(out, " {} |", value.map_or("-".into(), fmt));
        }
        let ratio = |base: Option<f64>| match (result.median_of(ours), base) {
            (Some(v), Some(b)) if b > 0.0 => format!("{:.2}", v / b),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            " {} | {} |",
            ratio(result.best_other(ours)),
            ratio(result.median_of(SEALED_UDP))
        );
    }
    out
}

/// Three significant digits, no exponent.
pub fn fmt(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The JSON report: every scenario, plus `run -> all -> {...}` describing the run.
pub fn json_report(results: &[ScenarioResult], run: BTreeMap<&str, Value>) -> Value {
    let mut report = Map::new();
    let mut about = Map::new();
    about.insert(
        "all".into(),
        Value::Object(run.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
    );
    report.insert("run".into(), Value::Object(about));
    for result in results {
        report.insert(result.name.clone(), result.json());
    }
    Value::Object(report)
}

/// A bar chart: per scenario, each stack's primary median relative to the best stack of that
/// scenario (longest bar = best), with the value written beside it.
pub fn svg(results: &[ScenarioResult], subtitle: &str) -> String {
    const ROW: f64 = 16.0;
    const LEFT: f64 = 260.0;
    const WIDTH: f64 = 420.0;
    let colors = ["#2b7bb9", "#e07b39", "#6a9f3a", "#999999", "#555555"];
    let rows: usize = results.iter().map(|r| r.stacks.len() + 2).sum();
    let height = 60.0 + rows as f64 * ROW;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-size=\"14\">webrtc_mesh benchmarks (longest bar = best)</text>\n\
         <text x=\"10\" y=\"38\">{}</text>\n",
        LEFT + WIDTH + 120.0,
        escape(subtitle)
    );
    let mut y = 60.0;
    for result in results {
        let _ = writeln!(
            out,
            "<text x=\"10\" y=\"{}\" font-weight=\"bold\">{} ({})</text>",
            y + 11.0,
            escape(&result.title),
            result.primary.metric
        );
        y += ROW;
        let medians = result.primary_medians();
        let values: Vec<f64> = medians.iter().filter_map(|m| m.2).collect();
        let best = if result.primary.higher_is_better {
            values.iter().copied().fold(0.0, f64::max)
        } else {
            values
                .iter()
                .copied()
                .filter(|v| *v > 0.0)
                .fold(f64::MAX, f64::min)
        };
        for (i, (name, _, value)) in medians.iter().enumerate() {
            let share = match value {
                Some(v) if *v > 0.0 && best > 0.0 => {
                    if result.primary.higher_is_better {
                        v / best
                    } else {
                        best / v
                    }
                }
                _ => 0.0,
            };
            let _ = writeln!(
                out,
                "<text x=\"20\" y=\"{}\">{}</text><rect x=\"{LEFT}\" y=\"{}\" width=\"{:.1}\" \
                 height=\"{}\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{}\">{}</text>",
                y + 11.0,
                escape(name),
                y + 2.0,
                share * WIDTH,
                ROW - 4.0,
                colors[i % colors.len()],
                LEFT + share * WIDTH + 4.0,
                y + 11.0,
                value.map_or("failed".into(), fmt)
            );
            y += ROW;
        }
        y += ROW;
    }
    out.push_str("</svg>\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
