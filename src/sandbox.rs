//! Least privilege for live capture: once the interface (and the `-w` file) is open, mailtap
//! needs no privilege at all, so it gives everything up before it reads a packet.
//!
//! In this order:
//! 1. the user: `-Z USER` (tcpdump's flag), by default `nobody` when started as root (`-Z root`
//!    stays root); the supplementary groups are cleared, then the group and user ids set;
//! 2. every capability: bounding set (when allowed), effective, permitted, inheritable, ambient;
//! 3. `PR_SET_NO_NEW_PRIVS`: no exec can give any of it back;
//! 4. Landlock: no file access at all, except making, writing and deleting files in the `-w`
//!    folder when the files rotate (`-C`/`-G`), and reading the interface's drop counters in
//!    `/sys/class/net/IFACE/statistics`; no TCP bind or connect. Files already open (the
//!    capture socket, the `-w` file, standard output) go on working. A kernel without Landlock
//!    gets a warning on stderr and the rest of the sandbox;
//! 5. seccomp: only the system calls the capture loop makes (threads, no new process); any
//!    other fails with EPERM.
//!
//! Nothing here uses `unsafe`: the `nix`, `caps`, `landlock` and `seccompiler` crates do the
//! system calls.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use caps::CapSet;
use landlock::{
    Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use nix::unistd::{Gid, Uid, User};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// What the sandbox must leave open.
pub struct Plan<'a> {
    /// `-Z USER`; `None`: `nobody` when root, else stay who we are.
    pub user: Option<&'a str>,
    /// The interface, for its statistics folder.
    pub interface: &'a str,
    /// The `-w` file, and whether it rotates (then its folder stays writable).
    pub save: Option<(&'a File, PathBuf, bool)>,
}

/// What was done, to say on stderr.
pub struct Outcome {
    pub user: String,
    /// `None`: Landlock is enforced; `Some(why)` it is not (kernel without it).
    pub landlock_missing: Option<String>,
}

/// Drops privileges and enters the sandbox. An error means mailtap must not go on.
pub fn enter(plan: &Plan<'_>) -> Result<Outcome, String> {
    let euid = nix::unistd::geteuid();
    let target = match plan.user {
        Some(name) => Some(lookup(name)?),
        None if euid.is_root() => Some(lookup("nobody").map_err(|e| {
            format!("{e} (mailtap runs as 'nobody' once capturing; name another with -Z USER, or -Z root)")
        })?),
        None => None,
    };
    let user_name = match &target {
        Some(u) => u.name.clone(),
        None => User::from_uid(euid)
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| euid.to_string()),
    };

    // The first -w file was made as root: the files that follow are made as the new user, who
    // must own the ring it overwrites (tcpdump does the same).
    if let (Some(user), Some((file, _, true))) = (&target, &plan.save) {
        if user.uid != euid {
            std::os::unix::fs::fchown(file, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .map_err(|e| format!("cannot hand the -w file to user {}: {e}", user.name))?;
        }
    }

    // 1. Bounding set first: dropping it needs CAP_SETPCAP, gone after the user change.
    if caps::has_cap(None, CapSet::Effective, caps::Capability::CAP_SETPCAP).unwrap_or(false) {
        for cap in caps::read(None, CapSet::Bounding).unwrap_or_default() {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(|e| format!("cannot drop {cap} from the bounding set: {e}"))?;
        }
    }
    // 2. Groups, then user.
    let can_setgid =
        caps::has_cap(None, CapSet::Effective, caps::Capability::CAP_SETGID).unwrap_or(false);
    if can_setgid {
        nix::unistd::setgroups(&[])
            .map_err(|e| format!("cannot clear the supplementary groups: {e}"))?;
    }
    if let Some(user) = &target {
        let gid: Gid = user.gid;
        let uid: Uid = user.uid;
        nix::unistd::setresgid(gid, gid, gid)
            .map_err(|e| format!("cannot change to group {gid} (-Z {}): {e}", user.name))?;
        nix::unistd::setresuid(uid, uid, uid)
            .map_err(|e| format!("cannot change to user {} (-Z): {e}", user.name))?;
    }
    // 3. Every capability left.
    for set in [CapSet::Effective, CapSet::Permitted, CapSet::Inheritable] {
        caps::clear(None, set).map_err(|e| format!("cannot clear the capabilities: {e}"))?;
    }
    caps::clear(None, CapSet::Ambient)
        .map_err(|e| format!("cannot clear the ambient capabilities: {e}"))?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("PR_SET_NO_NEW_PRIVS: {e}"))?;

    // The rotation folder must be writable by whoever we are now.
    if let Some((_, folder, true)) = &plan.save {
        rustix::fs::access(folder, rustix::fs::Access::WRITE_OK).map_err(|e| {
            format!(
                "{}: user {user_name} cannot make files there ({e}); rotating -w files are made after privileges are dropped: make the folder writable by {user_name}, or name another user with -Z",
                folder.display()
            )
        })?;
    }

    // 4. Landlock.
    let landlock_missing = landlock(plan)?;
    // 5. seccomp.
    seccomp()?;
    Ok(Outcome {
        user: user_name,
        landlock_missing,
    })
}

fn lookup(name: &str) -> Result<User, String> {
    let found = match User::from_name(name) {
        Ok(Some(user)) => Some(user),
        Ok(None) => name
            .parse::<u32>()
            .ok()
            .and_then(|uid| User::from_uid(Uid::from_raw(uid)).ok().flatten()),
        Err(e) => return Err(format!("cannot look up user '{name}': {e}")),
    };
    found.ok_or_else(|| format!("no such user: '{name}'"))
}

fn landlock(plan: &Plan<'_>) -> Result<Option<String>, String> {
    let abi = ABI::V6;
    let fail = |e: landlock::RulesetError| format!("Landlock: {e}");
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .map_err(fail)?
        .handle_access(AccessNet::from_all(abi))
        .map_err(fail)?
        .scope(Scope::from_all(abi))
        .map_err(fail)?
        .create()
        .map_err(fail)?;
    if let Some((_, folder, true)) = &plan.save {
        let fd = PathFd::new(folder).map_err(|e| format!("Landlock: {e}"))?;
        let access =
            AccessFs::MakeReg | AccessFs::WriteFile | AccessFs::RemoveFile | AccessFs::Truncate;
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, access))
            .map_err(fail)?;
    }
    let stats = Path::new("/sys/class/net")
        .join(plan.interface)
        .join("statistics");
    if let Ok(fd) = PathFd::new(&stats) {
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, AccessFs::ReadFile | AccessFs::ReadDir))
            .map_err(fail)?;
    }
    let status = ruleset.restrict_self().map_err(fail)?;
    Ok(match status.ruleset {
        RulesetStatus::NotEnforced => Some(
            "this kernel does not support Landlock: file access is not restricted (the user, capabilities and seccomp sandbox are in place)".into(),
        ),
        RulesetStatus::FullyEnforced | RulesetStatus::PartiallyEnforced => None,
    })
}

/// The system calls of the capture loop: reading the capture (poll, the ring, stats), writing
/// the output and the `-w` files (and rotating them), memory, time, signals, exit.
fn allowed() -> Vec<i64> {
    #[allow(unused_mut)]
    let mut calls = vec![
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_writev,
        libc::SYS_pread64,
        libc::SYS_pwrite64,
        libc::SYS_lseek,
        libc::SYS_close,
        libc::SYS_fstat,
        libc::SYS_newfstatat,
        libc::SYS_statx,
        libc::SYS_fsync,
        libc::SYS_fdatasync,
        libc::SYS_ftruncate,
        libc::SYS_openat,
        libc::SYS_unlinkat,
        libc::SYS_fcntl,
        libc::SYS_ppoll,
        libc::SYS_pselect6,
        libc::SYS_epoll_pwait,
        libc::SYS_recvfrom,
        libc::SYS_recvmsg,
        libc::SYS_getsockopt,
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_mremap,
        libc::SYS_madvise,
        libc::SYS_mprotect,
        libc::SYS_brk,
        libc::SYS_futex,
        libc::SYS_sched_yield,
        libc::SYS_getrandom,
        libc::SYS_clock_gettime,
        libc::SYS_clock_nanosleep,
        libc::SYS_nanosleep,
        libc::SYS_gettimeofday,
        libc::SYS_rt_sigreturn,
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigaction,
        libc::SYS_sigaltstack,
        libc::SYS_getpid,
        libc::SYS_gettid,
        libc::SYS_tgkill,
        libc::SYS_exit,
        libc::SYS_exit_group,
        libc::SYS_restart_syscall,
        // Starting and ending threads.
        libc::SYS_set_robust_list,
        libc::SYS_rseq,
        libc::SYS_sched_getaffinity,
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([
        libc::SYS_poll,
        libc::SYS_select,
        libc::SYS_epoll_wait,
        libc::SYS_unlink,
        libc::SYS_open,
        libc::SYS_stat,
        libc::SYS_lstat,
    ]);
    calls
}

// The ioctl request type differs between C libraries (c_ulong, c_int).
#[allow(clippy::unnecessary_cast)]
fn seccomp() -> Result<(), String> {
    let arch: TargetArch = std::env::consts::ARCH
        .try_into()
        .map_err(|e| format!("seccomp: {e:?}"))?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        allowed().into_iter().map(|n| (n, Vec::new())).collect();
    // Terminal questions only (is standard output a terminal, how wide is it).
    let ioctl = [libc::TCGETS, libc::TIOCGWINSZ]
        .into_iter()
        .map(|request| {
            SeccompCondition::new(1, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, request as u64)
                .and_then(|c| SeccompRule::new(vec![c]))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("seccomp: {e}"))?;
    rules.insert(libc::SYS_ioctl, ioctl);
    // libpcap tearing down its packet ring when the capture closes.
    let sol_packet = SeccompCondition::new(
        1,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::Eq,
        libc::SOL_PACKET as u64,
    )
    .and_then(|c| SeccompRule::new(vec![c]))
    .map_err(|e| format!("seccomp: {e}"))?;
    rules.insert(libc::SYS_setsockopt, vec![sol_packet]);
    // Threads (the capture thread starts inside the sandbox), never a new process: clone only
    // with CLONE_THREAD; clone3, whose flags a filter cannot see, answers ENOSYS (below), and
    // the C library falls back to clone.
    let thread = SeccompCondition::new(
        0,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
        libc::CLONE_THREAD as u64,
    )
    .and_then(|c| SeccompRule::new(vec![c]))
    .map_err(|e| format!("seccomp: {e}"))?;
    rules.insert(libc::SYS_clone, vec![thread]);
    rules.insert(libc::SYS_clone3, Vec::new());
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        arch,
    )
    .map_err(|e| format!("seccomp: {e}"))?;
    let program: BpfProgram = filter.try_into().map_err(|e| format!("seccomp: {e}"))?;
    // ENOSYS beats ALLOW when filters disagree: clone3 is allowed above only to be refused
    // here with the answer that makes the C library use clone.
    let no_clone3 = SeccompFilter::new(
        [(libc::SYS_clone3, Vec::new())].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(|e| format!("seccomp: {e}"))?;
    let no_clone3: BpfProgram = no_clone3.try_into().map_err(|e| format!("seccomp: {e}"))?;
    // This one first: installing a filter takes prctl and seccomp, which the main one denies.
    seccompiler::apply_filter_all_threads(&no_clone3).map_err(|e| format!("seccomp: {e}"))?;
    seccompiler::apply_filter_all_threads(&program).map_err(|e| format!("seccomp: {e}"))
}
