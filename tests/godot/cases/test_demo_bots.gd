## Five processes: this one runs a WebRTCSignalingServer, four headless demo_project bots join a
## lobby through it, form a mesh, chat and move their avatars. One bot is killed (no goodbye);
## the other three must see its peer_disconnected within 5 s and keep playing.
extends "res://lib/case.gd"

const BOTS := 4
const SECONDS := 8.0


func run() -> void:
	var demo := ProjectSettings.globalize_path("res://").path_join("../../demo_project").simplify_path()
	if not check(FileAccess.file_exists(demo.path_join("project.godot")), "demo project at %s" % demo):
		return finish()
	if not check(DirAccess.dir_exists_absolute(demo.path_join("addons/webrtc_mesh/bin")), "addon installed in the demo project (tests/godot.sh does it)"):
		return finish()
	var server := WebRTCSignalingServer.new()
	server.bind_address = "127.0.0.1"
	if not check_eq(server.listen(0), OK, "signaling server listens"):
		return finish()
	var url := "ws://127.0.0.1:%d" % server.get_port()
	var dir := OS.get_user_data_dir().path_join("demo_bots_%d" % OS.get_process_id())
	DirAccess.make_dir_recursive_absolute(dir)

	var started := Time.get_ticks_msec()
	var pids: Array[int] = []
	for i in BOTS:
		var args := ["--headless", "--path", demo, "--", "--bot", "--url", url, "--peers", str(BOTS),
			"--seconds", str(SECONDS), "--bind", "127.0.0.1",
			"--lobby-file", dir.path_join("lobby"), "--summary", dir.path_join("bot%d.json" % i)]
		if i == 0:
			args.append("--host")
		pids.append(OS.create_process(OS.get_executable_path(), args))
		check(pids[i] > 0, "bot %d started" % i)

	var summaries := []
	var read_all := func() -> void:
		summaries.clear()
		for i in BOTS:
			var text := FileAccess.get_file_as_string(dir.path_join("bot%d.json" % i))
			summaries.append(JSON.parse_string(text) if text != "" else null)
	var formed := func() -> bool:
		read_all.call()
		for s in summaries:
			if s == null or s["connected_peers"].size() != BOTS - 1 or int(s["chat_senders"]) != BOTS - 1:
				return false
		return true
	if check(await wait_until(formed, 30.0), "four bots formed a mesh and chatted"):
		var slowest := 0
		for s in summaries:
			slowest = maxi(slowest, int(s["mesh_formed_ms"]))
		note("four Godot processes formed the mesh through the signaling server: slowest bot %d ms after its join, %d ms after the first process started" % [slowest, Time.get_ticks_msec() - started])

		# Kill the last bot outright, as a crash would.
		var victim: int = int(summaries[BOTS - 1]["peer_id"])
		var killed_ms := int(Time.get_unix_time_from_system() * 1000.0)
		check_eq(OS.kill(pids[BOTS - 1]), OK, "bot killed")
		pids[BOTS - 1] = 0
		var finished := func() -> bool:
			read_all.call()
			for i in BOTS - 1:
				if summaries[i] == null or not summaries[i].get("final", false):
					return false
			return true
		check(await wait_until(finished, SECONDS + 20.0), "the other bots finished")
		var slowest_notice := 0
		for i in BOTS - 1:
			var s: Dictionary = summaries[i]
			var seen := -1
			for left in s["peers_left"]:
				if int(left["peer_id"]) == victim:
					seen = int(left["unix_ms"]) - killed_ms
			if check(seen >= 0, "bot %d saw the killed bot disconnect" % i):
				check(seen <= 5000, "bot %d saw it within 5 s (%d ms)" % [i, seen])
				slowest_notice = maxi(slowest_notice, seen)
			check_eq(s["connected_peers"].size(), BOTS - 2, "bot %d still linked to the two others" % i)
			check_eq(int(s["chat_senders"]), BOTS - 1, "bot %d got chat from every other bot" % i)
			check(int(s["chat_received"]) >= 10, "bot %d got %d chat lines" % [i, int(s["chat_received"])])
			check(int(s["remote_avatars_moving"]) >= BOTS - 2, "bot %d saw the others' avatars move" % i)
			check(s["rtt_p50_ms"] != null, "bot %d measured round-trip times" % i)
		note("a killed bot was seen gone by the three others after at most %d ms" % slowest_notice)

	for pid in pids:
		if pid > 0 and OS.is_process_running(pid):
			OS.kill(pid)
	server.stop()
	for file in DirAccess.get_files_at(dir):
		DirAccess.remove_absolute(dir.path_join(file))
	DirAccess.remove_absolute(dir)
	finish()
