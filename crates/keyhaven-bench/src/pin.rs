//! `--pin` (issue 5, item 3): the server's threads on CPU 0, the load generator's on
//! CPU 1, as `taskset` would place two processes, so that neither steals the other's core.

/// Pins the calling thread to `cpu`; a thread that cannot be pinned runs where it may.
pub fn current_thread_to(cpu: usize) {
    use nix::sched::{CpuSet, sched_setaffinity};
    let mut set = CpuSet::new();
    if set.set(cpu).is_ok() {
        // Pid 0: the calling thread.
        let _ = sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
    }
}

/// The default: pinned when there are two CPUs or more to pin to.
pub fn available() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

/// Sets the CPUs of every thread of process `pid` (what `taskset -a -p` does), so that a
/// pinned server can be given every core for a long provisioning and pinned again for the
/// measurement. Threads it starts afterwards inherit their creator's CPUs.
pub fn process_to(pid: u32, cpus: impl IntoIterator<Item = usize>) {
    use nix::sched::{CpuSet, sched_setaffinity};
    let mut set = CpuSet::new();
    for cpu in cpus {
        let _ = set.set(cpu);
    }
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for thread in threads.flatten() {
        if let Some(tid) = thread.file_name().to_str().and_then(|t| t.parse().ok()) {
            // A thread that exited meanwhile is no longer there to pin.
            let _ = sched_setaffinity(nix::unistd::Pid::from_raw(tid), &set);
        }
    }
}

/// Every CPU of the machine.
pub fn all() -> std::ops::Range<usize> {
    0..std::thread::available_parallelism().map_or(1, |n| n.get())
}
