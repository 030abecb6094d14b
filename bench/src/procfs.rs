//! Memory and CPU readings from `/proc`, so the harness needs no allocator hooks (and no
//! `unsafe`): each side runs in its own process, and that process's resident set is the figure.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

/// Memory of this process in bytes: now, and the peak since the last reset.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    pub current: u64,
    pub peak: u64,
}

/// `VmRSS` and `VmHWM` (peak resident set).
pub fn memory() -> Result<Memory> {
    memory_of("/proc/self/status")
}

/// `VmRSS` of process `pid` (the API server), in bytes.
pub fn rss_of(pid: u32) -> Result<u64> {
    Ok(memory_of(&format!("/proc/{pid}/status"))?.current)
}

fn memory_of(path: &str) -> Result<Memory> {
    let status = std::fs::read_to_string(path)
        .with_context(|| format!("reading {path} (the harness needs Linux procfs)"))?;
    let field = |name: &str| -> Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in {path}"))?;
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .with_context(|| format!("unreadable {line:?} in {path}"))?;
        Ok(kib * 1024)
    };
    Ok(Memory {
        current: field("VmRSS:")?,
        peak: field("VmHWM:")?,
    })
}

/// Resets `VmHWM` to the current RSS (`echo 5 > /proc/self/clear_refs`, Linux ≥ 4.0), so the
/// peak that follows belongs to the phase being measured, not to start-up.
pub fn reset_peak() -> Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
        .context("resetting VmHWM via /proc/self/clear_refs")
}

/// User + system CPU time of process `pid` so far, in seconds (`pid` 0 means this process).
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let path = if pid == 0 {
        "/proc/self/stat".to_owned()
    } else {
        format!("/proc/{pid}/stat")
    };
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) is parenthesised and may contain spaces: count from after it.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("unreadable {path}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15 (proc(5)).
    let (Some(utime), Some(stime)) = (fields.get(11), fields.get(12)) else {
        bail!("{path} has too few fields");
    };
    let ticks: u64 = utime.parse::<u64>()? + stime.parse::<u64>()?;
    Ok(ticks as f64 / clock_ticks() as f64)
}

/// `sysconf(_SC_CLK_TCK)` without libc: ask `getconf`, fall back to Linux's fixed 100.
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// The machine the figures were taken on.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub mem_total: String,
    pub kernel: String,
}

pub fn machine() -> Machine {
    let read = |p: &str| std::fs::read_to_string(Path::new(p)).unwrap_or_default();
    let cpu_model = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let mem_total = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| {
            l["MemTotal:".len()..]
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kib| format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0)))
        .unwrap_or_else(|| "unknown".into());
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model,
        mem_total,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
    }
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` prints them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
