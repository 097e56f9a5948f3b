## Two Godot processes: this one is mesh peer 1, a second headless engine is peer 2; signaling
## goes through files. Peer 2's 100 reliable packets arrive in order, then it exits cleanly.
extends "res://lib/case.gd"

const FileSignaling := preload("res://lib/file_signaling.gd")


func run() -> void:
	var dir := OS.get_user_data_dir().path_join("two_process_%d" % OS.get_process_id())
	var signaling := FileSignaling.new(dir, 1)
	var peer := WebRTCMultiplayerPeerExtension.new()
	peer.create_mesh(1)
	var connection := new_connection()
	signaling.attach(connection, 2)
	peer.add_peer(connection, 2)
	var args := ["--headless", "--path", ProjectSettings.globalize_path("res://"), "--script", "res://lib/second_process.gd", "--", dir]
	var pid := OS.create_process(OS.get_executable_path(), args)
	if not check(pid > 0, "second process started"):
		return
	var started := Time.get_ticks_msec()
	var got: Array = []
	var received := func() -> bool:
		peer.poll()
		signaling.apply(connection)
		while peer.get_available_packet_count() > 0:
			check_eq(peer.get_packet_peer(), 2, "packet from peer 2")
			got.append(bytes_to_var(peer.get_packet()))
		return got.size() >= 100
	check(await wait_until(received, 20.0), "100 packets from the other process (got %d)" % got.size())
	note("second process connected and delivered 100 packets in %d ms" % (Time.get_ticks_msec() - started))
	check_eq(got, range(100), "in order, once each")
	# It quits with its connection still open: that must not hang or crash.
	signaling.send(2, {"type": "done"})
	var quit_asked := Time.get_ticks_msec()
	check(await wait_until(func() -> bool: return not OS.is_process_running(pid), 5.0), "second process exits")
	var exit_ms := Time.get_ticks_msec() - quit_asked
	check(exit_ms < 1500, "second process exited %d ms after being told to quit (includes noticing the file)" % exit_ms)
	note("second process quit with a live connection in %d ms" % exit_ms)
	check_eq(OS.get_process_exit_code(pid), 0, "second process exit code")
	peer.close()
	for box in DirAccess.get_directories_at(dir):
		for file in DirAccess.get_files_at(dir.path_join(box)):
			DirAccess.remove_absolute(dir.path_join(box).path_join(file))
		DirAccess.remove_absolute(dir.path_join(box))
	DirAccess.remove_absolute(dir)
	finish()
