## Runs the test cases in res://cases/ (all, or those named after `--`), one line per case,
## then "N passed, N failed"; the exit code is the number of failed cases.
extends SceneTree

func _initialize() -> void:
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
		var case: Node = load("res://cases/%s.gd" % name).new()
		case.name = name
		root.add_child(case)
		var started := Time.get_ticks_msec()
		await case.run()
		var took := Time.get_ticks_msec() - started
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
