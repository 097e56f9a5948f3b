## Runs the test cases in res://cases/ (all, or those named after `--`), one line per case,
## then "N passed, N failed"; the exit code is the number of failed cases.
extends SceneTree

## A run that takes longer than this has hung: it fails rather than waiting forever.
const WATCHDOG_SECONDS := 600.0


func _initialize() -> void:
	create_timer(WATCHDOG_SECONDS).timeout.connect(func() -> void:
		print("FAIL runner: still running after %d s" % WATCHDOG_SECONDS)
		print("0 passed, 1 failed")
		quit(1))
	_run.call_deferred()


func _case_names() -> PackedStringArray:
	var wanted := OS.get_cmdline_user_args()
	var names := PackedStringArray()
	for file in DirAccess.get_files_at("res://cases"):
		if file.begins_with("test_") and file.ends_with(".gd"):
			var name := file.get_basename()
			if wanted.is_empty() or name in wanted:
				names.append(name)
	names.sort()
	return names


func _run() -> void:
	var passed := 0
	var failed := 0
	for name in _case_names():
		var script: GDScript = load("res://cases/%s.gd" % name)
		if script == null or not script.can_instantiate():
			failed += 1
			print("FAIL %s: the script does not compile" % name)
			continue
		var case: Node = script.new()
		case.name = name
		root.add_child(case)
		var started := Time.get_ticks_msec()
		await case.run()
		var took := Time.get_ticks_msec() - started
		if not case.finished and case.failures.is_empty():
			case.failures.append("stopped before its end (see the SCRIPT ERROR above)")
		if case.failures.is_empty():
			passed += 1
			print("PASS %s (%d ms)" % [name, took])
		else:
			failed += 1
			print("FAIL %s (%d ms)" % [name, took])
			for failure in case.failures:
				print("    ", failure)
		for line in case.notes:
			print("    ", line)
		case.free()
		await process_frame
	print("%d passed, %d failed" % [passed, failed])
	quit(failed)
