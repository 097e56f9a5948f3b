## Loading the library starts no network threads; the runtime starts with the first connection
## and stops once the last one is gone. Runs first (by name), before other cases use WebRTC.
extends "res://lib/case.gd"


## Threads of this process named like the runtime's. Godot reads files by their size, which
## /proc reports as 0, so `cat` reads them.
func _runtime_threads() -> int:
	var output := []
	OS.execute("sh", ["-c", "cat /proc/%d/task/*/comm" % OS.get_process_id()], output)
	return Array(output[0].split("\n")).count("webrtc-mesh")


func run() -> void:
	check_eq(ProjectSettings.get_setting("network/webrtc_mesh/worker_threads", -1), 0,
			"worker_threads project setting registered with its default")
	check_eq(ProjectSettings.get_setting("network/webrtc_mesh/receive_budget_kib", -1), 4096,
			"receive_budget_kib project setting registered with its default")
	check_eq(ProjectSettings.get_setting("network/webrtc_mesh/total_receive_budget_kib", -1), 65536,
			"total_receive_budget_kib project setting registered with its default")
	for setting in ["delay_ms", "jitter_ms", "loss_percent"]:
		check_eq(ProjectSettings.get_setting("network/webrtc_mesh/simulate/" + setting, -1), 0,
				"simulate/%s project setting registered, off by default" % setting)
	if OS.get_name() != "Linux":
		note("thread names are read from /proc: Linux only")
		finish()
		return
	var before := _runtime_threads()
	check_eq(before, 0, "runtime threads after loading the extension")
	var connection := WebRTCPeerConnection.new()
	var peer := WebRTCMultiplayerPeerExtension.new()
	peer.create_mesh(1)
	check_eq(_runtime_threads(), 0, "runtime threads before any connection is set up")
	check_eq(connection.initialize(LOOPBACK), OK, "initialize")
	check(_runtime_threads() > 0, "runtime threads once a connection exists")
	connection.close()
	connection = null
	peer = null
	check(await wait_until(func() -> bool: return _runtime_threads() == 0, 2.0), "runtime threads gone once nothing uses them")
	finish()
