//! States and kinds, numbered exactly as Godot's WebRTC classes number them, so a binding passes
//! them through as integers.

macro_rules! godot_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:expr),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum $name { $($(#[$vmeta])* $variant = $value),+ }

        impl $name {
            /// The state from its Godot number; unknown numbers give `None`.
            pub fn from_i32(value: i32) -> Option<Self> {
                match value { $($value => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

godot_enum!(
    /// `WebRTCPeerConnection.ConnectionState`.
    ConnectionState {
        /// Created, not yet connecting.
        New = 0,
        /// ICE or DTLS handshake in progress.
        Connecting = 1,
        /// Transport established.
        Connected = 2,
        /// Transport lost; it may still recover.
        Disconnected = 3,
        /// Transport failed for good.
        Failed = 4,
        /// Closed locally or by the remote end.
        Closed = 5,
    }
);

godot_enum!(
    /// `WebRTCPeerConnection.GatheringState`.
    GatheringState {
        /// Not gathering yet.
        New = 0,
        /// Gathering local candidates.
        Gathering = 1,
        /// All local candidates gathered.
        Complete = 2,
    }
);

godot_enum!(
    /// `WebRTCPeerConnection.SignalingState`.
    SignalingState {
        /// No offer/answer exchange in progress.
        Stable = 0,
        /// A local offer has been applied.
        HaveLocalOffer = 1,
        /// A remote offer has been applied.
        HaveRemoteOffer = 2,
        /// A local provisional answer has been applied.
        HaveLocalPranswer = 3,
        /// A remote provisional answer has been applied.
        HaveRemotePranswer = 4,
        /// The connection is closed.
        Closed = 5,
    }
);

godot_enum!(
    /// `WebRTCDataChannel.ChannelState`.
    ChannelState {
        /// Waiting for the transport.
        Connecting = 0,
        /// Messages can be sent and received.
        Open = 1,
        /// Closing was requested.
        Closing = 2,
        /// Closed.
        Closed = 3,
    }
);

godot_enum!(
    /// `MultiplayerPeer.TransferMode`.
    TransferMode {
        /// Unordered, not retransmitted past its lifetime.
        Unreliable = 0,
        /// Ordered, not retransmitted past its lifetime; late packets are skipped, never reordered.
        UnreliableOrdered = 1,
        /// Ordered and retransmitted until delivered.
        Reliable = 2,
    }
);

godot_enum!(
    /// `MultiplayerPeer.ConnectionStatus`.
    MeshStatus {
        /// Not created, or closed.
        Disconnected = 0,
        /// A client waiting for its server.
        Connecting = 1,
        /// Ready to exchange packets.
        Connected = 2,
    }
);

/// Kind of a session description, named as Godot and browsers name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SdpType {
    /// `"offer"`
    Offer,
    /// `"answer"`
    Answer,
    /// `"pranswer"`
    Pranswer,
    /// `"rollback"`
    Rollback,
}

impl SdpType {
    /// Parses `"offer"`, `"answer"`, `"pranswer"` or `"rollback"`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "offer" => Some(SdpType::Offer),
            "answer" => Some(SdpType::Answer),
            "pranswer" => Some(SdpType::Pranswer),
            "rollback" => Some(SdpType::Rollback),
            _ => None,
        }
    }

    /// The name used on the wire and in Godot's signals.
    pub fn as_str(self) -> &'static str {
        match self {
            SdpType::Offer => "offer",
            SdpType::Answer => "answer",
            SdpType::Pranswer => "pranswer",
            SdpType::Rollback => "rollback",
        }
    }
}
