//! The program's open-file limit. Each connection is a socket, so the usual soft limit of 1024
//! would refuse connections long before `--max-connections`; the hard limit is what the
//! administrator allows, and the program may raise its soft limit up to it.

/// Descriptors kept for what is not a counted connection: the listener, the runtime, standard
/// streams, and sockets still in their handshake or lingering after their close frame.
const HEADROOM: u64 = 64;

/// Raises the soft limit on open files to the hard limit, and warns on standard error when
/// the limit still cannot hold `max_connections`.
pub fn raise_for(max_connections: usize) {
    let allowed = match raise() {
        Ok(allowed) => allowed,
        Err(e) => {
            eprintln!("webrtc-mesh-signaling: cannot read the open-file limit: {e}");
            return;
        }
    };
    let needed = (max_connections as u64).saturating_add(HEADROOM);
    if needed > allowed {
        eprintln!(
            "webrtc-mesh-signaling: warning: --max-connections {max_connections} needs about \
             {needed} open files, but only {allowed} are allowed (ulimit -n); connections past \
             about {} cannot be accepted. Raise the limit, or lower --max-connections.",
            allowed.saturating_sub(HEADROOM)
        );
    }
}

/// The soft limit after raising it as far as allowed.
#[cfg(unix)]
fn raise() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given, which outlives the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct it is given. Refused (macOS refuses an
        // unlimited soft limit, for one), the limit stays as it was.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    // rlim_t is u64 on Linux and macOS, but signed on some BSDs.
    #[allow(clippy::useless_conversion)]
    Ok(u64::try_from(limit.rlim_cur).unwrap_or(u64::MAX))
}

/// Elsewhere there is no such limit to raise.
#[cfg(not(unix))]
fn raise() -> std::io::Result<u64> {
    Ok(u64::MAX)
}
