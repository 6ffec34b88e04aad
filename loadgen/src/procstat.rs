//! Server-side CPU time and memory, read from /proc.

use anyhow::{bail, Context};

/// CPU time a process has used, in clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTicks {
    pub utime: u64,
    pub stime: u64,
}

impl CpuTicks {
    pub fn total(&self) -> u64 {
        self.utime + self.stime
    }
}

/// Parses utime and stime (fields 14 and 15) from a /proc/PID/stat line.
///
/// Field 2 is the command name in parentheses and may itself contain
/// spaces and parentheses, so counting starts after the *last* `)`.
pub fn parse_stat(line: &str) -> anyhow::Result<CpuTicks> {
    let close = line.rfind(')').context("stat line without `)`")?;
    // After the name come fields 3 (state), 4, ...: field n is at n - 3.
    let fields: Vec<&str> = line[close + 1..].split_whitespace().collect();
    if fields.len() < 13 {
        bail!("stat line has {} fields after the name", fields.len());
    }
    let num = |i: usize| fields[i].parse::<u64>().context("stat field not a number");
    Ok(CpuTicks {
        utime: num(14 - 3)?,
        stime: num(15 - 3)?,
    })
}

/// CPU time of the whole machine (all CPUs), in clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemTicks {
    /// Time not idle and not waiting for I/O.
    pub busy: u64,
}

/// Parses the aggregate `cpu` line of /proc/stat: user nice system idle
/// iowait irq softirq steal (guest time is already inside user).
pub fn parse_system_stat(stat: &str) -> anyhow::Result<SystemTicks> {
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .context("no aggregate cpu line")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("cpu line values")?;
    if v.len() < 8 {
        bail!("cpu line has {} values", v.len());
    }
    Ok(SystemTicks {
        busy: v[0] + v[1] + v[2] + v[5] + v[6] + v[7],
    })
}

pub fn system_ticks() -> anyhow::Result<SystemTicks> {
    parse_system_stat(&std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?)
}

/// Parses `VmRSS:   1234 kB` from /proc/PID/status, in bytes.
pub fn parse_vm_rss(status: &str) -> anyhow::Result<u64> {
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS line")?;
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .context("VmRSS value")?;
    Ok(kb * 1024)
}

pub fn cpu_ticks(pid: u32) -> anyhow::Result<CpuTicks> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_stat(&s)
}

pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    parse_vm_rss(&s)
}

/// Clock ticks per second, the unit of utime and stime.
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a configuration value; it takes no
    // pointers and has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // Linux has reported 100 on every common architecture; use it if the
    // call fails rather than dropping the CPU figures.
    u64::try_from(t).ok().filter(|&t| t > 0).unwrap_or(100)
}

pub fn ticks_to_us(ticks: u64) -> u64 {
    ticks * 1_000_000 / ticks_per_second()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_tricky_name() {
        let line = "4242 (sw itch) (board)) S 1 4242 4242 0 -1 4194560 \
                    1523 0 0 0 731 262 0 0 20 0 3 0 123456 1234567 890 \
                    18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        assert_eq!(
            parse_stat(line).unwrap(),
            CpuTicks {
                utime: 731,
                stime: 262
            }
        );
    }

    #[test]
    fn short_stat_line_is_an_error() {
        assert!(parse_stat("1 (x) S 1 2").is_err());
        assert!(parse_stat("no paren").is_err());
    }

    #[test]
    fn system_busy_time() {
        let stat = "cpu  100 5 50 9000 20 3 7 11 0 0\ncpu0 50 2 25 4500 10 1 3 5 0 0\nintr 1\n";
        assert_eq!(
            parse_system_stat(stat).unwrap().busy,
            100 + 5 + 50 + 3 + 7 + 11
        );
        assert!(parse_system_stat("cpu0 1 2 3\n").is_err());
    }

    #[test]
    fn vm_rss_in_bytes() {
        let status = "Name:\tswitchboard\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status).unwrap(), 5120 * 1024);
        assert!(parse_vm_rss("Name: x\n").is_err());
    }

    #[test]
    fn own_process_is_readable() {
        let pid = std::process::id();
        assert!(cpu_ticks(pid).is_ok());
        assert!(rss_bytes(pid).unwrap() > 0);
        assert!(ticks_per_second() > 0);
    }
}
