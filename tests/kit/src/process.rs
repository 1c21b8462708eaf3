//! This process's own figures, for benches on a shared machine: CPU time (not
//! wall time, which moves with the machine's load) and memory from `/proc/self`.

/// CPU time of this process so far, in ms: the sum over its threads of the
/// nanoseconds on a CPU (`/proc/self/task/*/schedstat`).
pub fn cpu_ms() -> f64 {
    let mut ns: u64 = 0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            if let Ok(stat) = std::fs::read_to_string(t.path().join("schedstat")) {
                ns += stat
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    ns as f64 / 1e6
}

/// A `kB` field of `/proc/self/status` (`VmRSS:`, `VmHWM:`); 0 when absent.
pub fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
