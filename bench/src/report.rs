//! The results table, printed and written into BENCHMARKS.md between markers (the prose
//! around the markers is written by hand and kept).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};

use crate::procfs::{Machine, load_average, machine};

/// Opens a generated section; the run's key follows, so runs of different sizes or figure
/// sets (10k and 100k, quick and full) each keep their own section.
const BEGIN: &str = "<!-- kubesmith-bench:begin ";
const END: &str = "<!-- kubesmith-bench:end -->";

/// Which direction of a figure is good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

pub struct Row {
    pub figure: String,
    pub unit: &'static str,
    pub better: Better,
    pub kubesmith: f64,
    pub kube_runtime: f64,
    /// Server CPU seconds spent while each side ran.
    pub server_cpu: Option<(f64, f64)>,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.kubesmith / self.kube_runtime
    }

    /// How much kubesmith is ahead (> 1) or behind (< 1), whatever the figure's direction.
    fn advantage(&self) -> f64 {
        match self.better {
            Better::Lower => 1.0 / self.ratio(),
            Better::Higher => self.ratio(),
        }
    }

    fn verdict(&self) -> &'static str {
        let a = self.advantage();
        if !a.is_finite() {
            "n/a"
        } else if a > 1.1 {
            "kubesmith ahead"
        } else if a < 1.0 / 1.1 {
            "kubesmith behind"
        } else {
            "even (within 10%)"
        }
    }
}

pub struct Report {
    pub command: String,
    /// Identifies the run's section in the Markdown file, e.g. `objects=10000 figures=sync`.
    pub key: String,
    pub objects: usize,
    pub quick: bool,
    /// One line per object set: kind, count, bytes as JSON, managedFields share.
    pub object_sets: Vec<String>,
    started: String,
    machine: Machine,
    load_before: String,
    load_after: String,
    rows: Vec<Row>,
    absolutes: Vec<(String, f64, &'static str)>,
    notes: Vec<String>,
}

impl Report {
    pub fn new(objects: usize, quick: bool) -> Self {
        Self {
            command: String::new(),
            key: format!("objects={objects}"),
            objects,
            quick,
            object_sets: Vec::new(),
            started: jiff::Timestamp::now()
                .strftime("%Y-%m-%d %H:%M UTC")
                .to_string(),
            machine: machine(),
            load_before: load_average(),
            load_after: String::new(),
            rows: Vec::new(),
            absolutes: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn row(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// A compared figure that has no server CPU column.
    pub fn pair(
        &mut self,
        figure: &str,
        unit: &'static str,
        better: Better,
        kubesmith: f64,
        kube_runtime: f64,
    ) {
        self.rows.push(Row {
            figure: figure.to_owned(),
            unit,
            better,
            kubesmith,
            kube_runtime,
            server_cpu: None,
        });
    }

    pub fn absolute(&mut self, figure: &str, value: f64, unit: &'static str) {
        self.absolutes.push((figure.to_owned(), value, unit));
    }

    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    pub fn finish(&mut self) {
        self.load_after = load_average();
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(
            s,
            "### Results of {} ({})\n",
            self.started,
            if self.quick { "`--quick`" } else { "full run" }
        );
        for set in &self.object_sets {
            let _ = writeln!(s, "- Objects: {set}.");
        }
        let _ = writeln!(
            s,
            "- Machine: {} CPUs ({}), {} RAM, Linux {}.",
            m.cpus, m.cpu_model, m.mem_total, m.kernel
        );
        let _ = writeln!(
            s,
            "- Load average (1/5/15 min): {} before, {} after.",
            self.load_before, self.load_after
        );
        let _ = writeln!(s, "- Command: `{}`\n", self.command);
        s.push_str("| figure | kubesmith | kube-runtime | ratio kubesmith / kube-runtime | better | verdict | server CPU s (kubesmith / kube-runtime) |\n");
        s.push_str("|---|---:|---:|---:|---|---|---:|\n");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} {u} | {} {u} | {} | {} | {} | {} |",
                r.figure,
                num(r.kubesmith),
                num(r.kube_runtime),
                if r.ratio().is_finite() {
                    format!("{:.2}", r.ratio())
                } else {
                    "n/a".into()
                },
                match r.better {
                    Better::Lower => "lower (ratio < 1 favours kubesmith)",
                    Better::Higher => "higher (ratio > 1 favours kubesmith)",
                },
                r.verdict(),
                r.server_cpu
                    .map_or("-".into(), |(a, b)| format!("{a:.2} / {b:.2}")),
                u = r.unit,
            );
        }
        if !self.absolutes.is_empty() {
            s.push_str("\nNo peer (absolute figures):\n\n| figure | value |\n|---|---:|\n");
            for (figure, value, unit) in &self.absolutes {
                let _ = writeln!(s, "| {figure} | {} {unit} |", num(*value));
            }
        }
        if !self.notes.is_empty() {
            s.push('\n');
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        let behind: Vec<&str> = self
            .rows
            .iter()
            .filter(|r| r.verdict() == "kubesmith behind")
            .map(|r| r.figure.as_str())
            .collect();
        let _ = writeln!(
            s,
            "\nkubesmith behind by more than 10% in this run: {}.",
            if behind.is_empty() {
                "nothing".to_owned()
            } else {
                behind.join("; ")
            }
        );
        s
    }

    /// Replaces the generated section of `path` (or appends one).
    pub fn write_into(&self, path: &Path) -> Result<()> {
        let existing = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let begin = format!(
            "{BEGIN}{} (generated by scripts/bench.sh; edits inside are overwritten) -->",
            self.key
        );
        let section = format!("{begin}\n{}{END}", self.markdown());
        let start = existing.find(&begin);
        let end = start.and_then(|b| existing[b..].find(END).map(|e| b + e));
        let updated = match (start, end) {
            (Some(b), Some(e)) => {
                format!("{}{section}{}", &existing[..b], &existing[e + END.len()..])
            }
            _ => format!(
                "{existing}{}{section}\n",
                if existing.is_empty() { "" } else { "\n" }
            ),
        };
        std::fs::write(path, updated).with_context(|| format!("writing {}", path.display()))
    }
}

/// Readable numbers: thousands as integers, small values with decimals.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if v.abs() >= 1000.0 {
        let digits = format!("{:.0}", v.abs());
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if v < 0.0 { format!("-{out}") } else { out }
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}
