//! The editor help: every class, method, signal and property registered with Godot carries a
//! description, and it reaches the XML that gdext hands to the editor.

const SOURCES: [(&str, &str); 5] = [
    ("multiplayer_peer.rs", include_str!("multiplayer_peer.rs")),
    ("peer_connection.rs", include_str!("peer_connection.rs")),
    ("data_channel.rs", include_str!("data_channel.rs")),
    ("signaling_server.rs", include_str!("signaling_server.rs")),
    ("mesh_session.rs", include_str!("mesh_session.rs")),
];

const CLASSES: [&str; 5] = [
    "WebRTCMultiplayerPeerExtension",
    "WebRTCMeshPeerConnection",
    "WebRTCMeshDataChannel",
    "WebRTCSignalingServer",
    "WebRTCMeshSession",
];

/// Registered items of a source file: (attribute line, name, documented).
fn registered_items(source: &str) -> Vec<(String, String, bool)> {
    let lines: Vec<&str> = source.lines().map(str::trim).collect();
    let mut items = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let kind = ["#[func", "#[signal", "#[var", "#[export", "#[class("]
            .into_iter()
            .find(|k| line.starts_with(k));
        let Some(kind) = kind else { continue };
        // Doc comments sit above the attribute block; other attributes may be in between.
        let documented = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.starts_with("#["))
            .is_some_and(|l| l.starts_with("///"));
        // The item's name: the first `fn name` or `name:` after the attributes.
        let name = lines[i + 1..]
            .iter()
            .find(|l| !l.starts_with("#[") && !l.starts_with("///"))
            .map(|l| {
                let l = l.trim_start_matches("pub ");
                let l = l
                    .strip_prefix("fn ")
                    .or(l.strip_prefix("struct "))
                    .unwrap_or(l);
                l.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default();
        items.push((kind.to_string(), name, documented));
    }
    items
}

#[test]
fn every_registered_item_has_a_doc_comment() {
    let mut missing = Vec::new();
    let mut count = 0;
    for (file, source) in SOURCES {
        for (kind, name, documented) in registered_items(source) {
            count += 1;
            if !documented {
                missing.push(format!("{file}: {kind}] {name}"));
            }
        }
    }
    assert!(
        count >= 15,
        "only {count} registered items found: the scan is broken"
    );
    assert!(missing.is_empty(), "undocumented: {missing:#?}");
}

#[test]
fn editor_help_has_every_class_and_method() {
    let docs: Vec<String> = godot::docs::__gather_xml_docs().collect();
    for class in CLASSES {
        let xml = docs
            .iter()
            .find(|x| x.contains(&format!("<class name=\"{class}\"")))
            .unwrap_or_else(|| panic!("no help for {class}"));
        let brief = between(xml, "<brief_description>", "</brief_description>");
        assert!(
            brief.is_some_and(|b| !b.trim().is_empty()),
            "{class}: no brief description"
        );
        for description in xml.split("<description>").skip(1) {
            let text = description
                .split("</description>")
                .next()
                .unwrap_or_default();
            assert!(!text.trim().is_empty(), "{class}: an empty description");
        }
    }
    let peer = docs
        .iter()
        .find(|x| x.contains("<class name=\"WebRTCMultiplayerPeerExtension\""))
        .unwrap();
    for (kind, name, _) in registered_items(SOURCES[0].1) {
        let tag = match kind.as_str() {
            "#[func" => format!("<method name=\"{name}\""),
            "#[signal" => format!("<signal name=\"{name}\""),
            "#[var" | "#[export" => format!("<member name=\"{name}\""),
            _ => continue,
        };
        assert!(peer.contains(&tag), "no help entry {tag}");
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}
