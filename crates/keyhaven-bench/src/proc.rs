//! What the server costs, from `/proc/<pid>`: the server is a process of its own
//! (`server`), so its CPU time and memory are read off that process alone.

use std::time::Duration;

/// Clock ticks per second of `/proc/*/stat` times: `sysconf(_SC_CLK_TCK)`, which Linux
/// fixes at 100 on every architecture it exports to user space (the workspace forbids the
/// `unsafe` a call to it would take).
const USER_HZ: f64 = 100.0;

/// User and system CPU time of the process, all its threads (those that exited included).
pub fn cpu(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // After the `(comm)`: state is field 3 of proc(5), utime 14 and stime 15.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let ticks = field(11).unwrap_or(0) + field(12).unwrap_or(0);
    Duration::from_secs_f64(ticks as f64 / USER_HZ)
}

/// A `kB` line of `/proc/<pid>/status`, in KiB: `VmRSS`, `VmHWM`.
pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Starts a new peak: `VmHWM` becomes the current RSS (proc(5), `clear_refs` 5).
pub fn reset_peak_rss(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}
