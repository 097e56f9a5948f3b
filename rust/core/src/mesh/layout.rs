//! Godot's channel layout: which data channels a `WebRTCMultiplayerPeer` negotiates with each
//! peer, and how Godot's channel numbers map onto them.

use crate::channel::ChannelOptions;
use crate::state::TransferMode;

/// One channel of Godot's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSpec {
    /// Label, as Godot names it.
    pub label: String,
    /// Options, always negotiated with a fixed id.
    pub options: ChannelOptions,
    /// The transfer mode packets on this channel report.
    pub mode: TransferMode,
}

/// Godot's `WebRTCMultiplayerPeer` channel layout: "reliable" (id 1), "ordered" (id 2) and
/// "unreliable" (id 3), then one channel per extra entry with id and label `4 + i`.
///
/// The unreliable channels really carry `unreliable_lifetime` as their SCTP packet lifetime
/// (Godot's built-in passes it under a misspelled key, so its copies are reliable). Partial
/// reliability is applied by the sender only, so this still talks to the built-in peer.
pub fn godot_channel_layout(unreliable_lifetime: u16, extra: &[TransferMode]) -> Vec<ChannelSpec> {
    let spec = |label: String, id: u16, mode: TransferMode, lifetime: u16| ChannelSpec {
        label,
        options: ChannelOptions {
            ordered: mode != TransferMode::Unreliable,
            max_packet_life_time: (mode != TransferMode::Reliable).then_some(lifetime),
            negotiated_id: Some(id),
            ..Default::default()
        },
        mode,
    };
    let mut layout = vec![
        spec("reliable".into(), 1, TransferMode::Reliable, 0),
        spec(
            "ordered".into(),
            2,
            TransferMode::UnreliableOrdered,
            unreliable_lifetime,
        ),
        spec(
            "unreliable".into(),
            3,
            TransferMode::Unreliable,
            unreliable_lifetime,
        ),
    ];
    for (i, &mode) in extra.iter().enumerate() {
        let id = 4 + i as u16;
        layout.push(spec(id.to_string(), id, mode, 1));
    }
    layout
}

/// Godot's channel number for a layout index: 0 for the three default channels, then 1, 2, ...
pub fn godot_channel_of_index(index: usize) -> i32 {
    if index < 3 { 0 } else { (index - 2) as i32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_godots_with_the_lifetime_applied_and_extras_after() {
        let layout = godot_channel_layout(40, &[TransferMode::Unreliable, TransferMode::Reliable]);
        let summary: Vec<_> = layout
            .iter()
            .map(|c| {
                (
                    c.label.as_str(),
                    c.options.negotiated_id,
                    c.options.ordered,
                    c.options.max_packet_life_time,
                    c.mode,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("reliable", Some(1), true, None, TransferMode::Reliable),
                (
                    "ordered",
                    Some(2),
                    true,
                    Some(40),
                    TransferMode::UnreliableOrdered
                ),
                (
                    "unreliable",
                    Some(3),
                    false,
                    Some(40),
                    TransferMode::Unreliable
                ),
                ("4", Some(4), false, Some(1), TransferMode::Unreliable),
                ("5", Some(5), true, None, TransferMode::Reliable),
            ]
        );
        assert!(layout.iter().all(|c| c.options.validate().is_ok()));
    }
}
