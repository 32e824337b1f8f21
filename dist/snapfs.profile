# The LVM command profile of snapfs's lvm shell (LVM_COMMAND_PROFILE=snapfs),
# installed as /etc/lvm/profile/snapfs.profile. snapfs runs its LVM commands
# in one long-lived `lvm` shell; this profile makes the shell answer every
# command with one JSON document on its report descriptor: the report, and
# the command's whole log, whose last entry of context "shell" carries the
# exit status. Without this file snapfs runs one lvm process per command.
report {
	output_format = "json"
}
log {
	report_command_log = 1
	command_log_selection = "all"
}
