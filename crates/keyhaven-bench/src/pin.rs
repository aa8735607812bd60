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
