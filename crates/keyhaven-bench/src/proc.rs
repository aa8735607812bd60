//! What the server costs, from `/proc`: the server runs in this process on a runtime of
//! its own whose threads (workers and blocking pool) are all named `keyhaven`, so its CPU
//! time is theirs; memory is the process's (the load generator's share included).

use std::time::Duration;

/// The thread name of the server's runtime (see `main`).
pub const SERVER_THREADS: &str = "keyhaven";

/// Clock ticks per second of `/proc/*/stat` times: `sysconf(_SC_CLK_TCK)`, which Linux
/// fixes at 100 on every architecture it exports to user space (the workspace forbids the
/// `unsafe` a call to it would take).
const USER_HZ: f64 = 100.0;

/// User and system CPU time of the server's live threads: its runtime's and sqlx's
/// SQLite workers. A blocking-pool thread that
/// exits (after 10 s idle) takes its time with it, so compare snapshots close together.
pub fn server_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut total = 0u64;
    for task in tasks.flatten() {
        let path = task.path();
        let is_server = std::fs::read_to_string(path.join("comm")).is_ok_and(|comm| {
            let comm = comm.trim_end();
            // sqlx runs each SQLite connection on a thread of its own.
            comm == SERVER_THREADS || comm.starts_with("sqlx-sqlite")
        });
        if !is_server {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        // After the `(comm)`: state is field 3 of proc(5), utime 14 and stime 15.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        total += field(11).unwrap_or(0) + field(12).unwrap_or(0);
    }
    Duration::from_secs_f64(total as f64 / USER_HZ)
}

/// A `kB` line of `/proc/self/status`, in KiB: `VmRSS`, `VmHWM`.
pub fn status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Starts a new peak: `VmHWM` becomes the current RSS (proc(5), `clear_refs` 5).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
