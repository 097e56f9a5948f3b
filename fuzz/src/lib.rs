//! What the connection targets share: one runtime for the whole fuzzing process, and real
//! descriptions to splice fuzz input into.

use std::sync::LazyLock;

use webrtc_mesh_core::{
    ChannelOptions, Connection, ConnectionConfig, ConnectionEvent, Runtime, RuntimeConfig, SdpType,
};

/// One runtime for every input: starting tokio per input would dominate the time spent.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
        Runtime::new(&RuntimeConfig {
            // The fuzzer's own thread does the work; one worker is enough for the drivers'
            // timers, and the machine is shared.
            worker_threads: 1,
            socket_buffer_size: 256 * 1024,
            ..RuntimeConfig::default()
        })
        .expect("runtime starts")
    });
    &RUNTIME
}

/// A loopback connection with the data channel a mesh negotiates, so its descriptions carry
/// the application section real peers exchange.
pub fn connection() -> Connection {
    let connection =
        Connection::new(runtime(), &ConnectionConfig::loopback()).expect("connection opens");
    connection
        .create_data_channel(
            "fuzz",
            &ChannelOptions {
                negotiated_id: Some(1),
                ..ChannelOptions::default()
            },
        )
        .expect("channel opens");
    connection
}

/// A connection that has made its offer and waits for an answer.
pub fn offering() -> Connection {
    let connection = connection();
    connection.create_offer().expect("offer made");
    drain(&connection);
    connection
}

/// Throws away queued events (the answers and candidates a real peer would signal), so they
/// do not pile up across inputs.
pub fn drain(connection: &Connection) {
    while connection.poll_event().is_some() {}
}

/// A real offer and the answer to it, made once by two connections that are then dropped.
pub struct Exchange {
    /// The offer.
    pub offer: String,
    /// The answer to it.
    pub answer: String,
}

/// The real offer/answer pair, made on first use.
pub fn exchange() -> &'static Exchange {
    static EXCHANGE: LazyLock<Exchange> = LazyLock::new(|| {
        let offerer = connection();
        let answerer = connection();
        offerer.create_offer().expect("offer made");
        let offer = description(&offerer, SdpType::Offer);
        answerer
            .set_remote_description("offer", &offer)
            .expect("real offer applies");
        let answer = description(&answerer, SdpType::Answer);
        Exchange { offer, answer }
    });
    &EXCHANGE
}

fn description(connection: &Connection, kind: SdpType) -> String {
    while let Some(event) = connection.poll_event() {
        if let ConnectionEvent::SessionDescription { sdp_type, sdp } = event
            && sdp_type == kind
        {
            return sdp;
        }
    }
    panic!("no {} was made", kind.as_str());
}

/// `base` with `insert` spliced in before line `at` (counted modulo the line count plus one),
/// so fuzzed lines land inside an otherwise valid description, past its first checks.
pub fn splice_lines(base: &str, at: usize, insert: &str) -> String {
    let lines: Vec<&str> = base.split_terminator("\r\n").collect();
    let at = at % (lines.len() + 1);
    let mut out = String::with_capacity(base.len() + insert.len() + 2);
    for line in &lines[..at] {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(insert);
    if !insert.is_empty() && !insert.ends_with('\n') {
        out.push_str("\r\n");
    }
    for line in &lines[at..] {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}
