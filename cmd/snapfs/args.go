package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"syscall"
)

// invocation is what one command line asks snapfs to do.
type invocation struct {
	version     bool   // -version: print the version
	checkConfig string // -check-config FILE: validate FILE

	// helper is set when snapfs is called as a mount helper, the way
	// mount.fuse3 calls it for "mount -t fuse.snapfs" and fstab lines:
	// "snapfs SOURCE MOUNTPOINT -o OPTIONS". snapfs then daemonizes and
	// returns once the mount serves.
	helper bool
	// source is the mount's source (fsname): what /proc/mounts, df and
	// findmnt show, and what mount -a compares with fstab.
	source     string
	mountpoint string

	configPath     string // empty: DefaultConfigPath, when it exists
	level          slog.Level
	debugFUSE      bool // log every FUSE request
	allowOther     bool // -o allow_other; the config's allow_other also turns it on
	mountFlags     uintptr
	ignoredOptions []string // mount options that do not apply to snapfs
}

// usage is the synopsis printed on a usage error.
const usage = `usage: snapfs [-config FILE] [-debug] [-log-level LEVEL] [-o OPTIONS] MOUNTPOINT
       snapfs [-config FILE] [-debug] [-log-level LEVEL] SOURCE MOUNTPOINT [-o OPTIONS]
       snapfs -check-config FILE
       snapfs -version
`

// usageError is a command line snapfs does not understand: exit status 2.
type usageError struct {
	msg     string
	printed bool // the flag package has printed it, and the usage
}

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// parseArgs parses the command line. Its errors are *usageError.
func parseArgs(args []string, stderr io.Writer) (invocation, error) {
	inv := invocation{source: "snapfs", level: slog.LevelInfo}
	var options []string
	level := ""

	flags := flag.NewFlagSet("snapfs", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.StringVar(&inv.configPath, "config", "", "configuration `file` (default "+DefaultConfigPath+" when it exists)")
	debug := flags.Bool("debug", false, "log at debug level, every LVM command and every FUSE request")
	flags.StringVar(&level, "log-level", "", "log at `level` debug, info, warn or error (default info)")
	flags.BoolVar(&inv.version, "version", false, "print the version and exit")
	flags.StringVar(&inv.checkConfig, "check-config", "", "check the configuration `file` and exit: 0 when it is valid")
	flags.Func("o", "mount `options`, comma-separated (see snapfs(8))", func(s string) error {
		options = append(options, s)
		return nil
	})
	flags.Usage = func() {
		fmt.Fprint(stderr, usage)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return inv, &usageError{msg: err.Error(), printed: true}
	}

	// The operands, and the -o options that mount.fuse3 puts after them.
	var operands []string
	rest := flags.Args()
	for i := 0; i < len(rest); i++ {
		switch arg := rest[i]; {
		case arg == "-o":
			if i+1 == len(rest) {
				return inv, usageErrorf("-o needs a value")
			}
			i++
			options = append(options, rest[i])
		case strings.HasPrefix(arg, "-o"):
			options = append(options, arg[2:])
		case strings.HasPrefix(arg, "-") && arg != "-":
			return inv, usageErrorf("%s: flags go before the operands; only -o may follow them", arg)
		default:
			operands = append(operands, arg)
		}
	}

	switch {
	case inv.version:
		return inv, nil
	case inv.checkConfig != "":
		if len(operands) > 0 || len(options) > 0 {
			return inv, usageErrorf("-check-config takes only the file to check")
		}
		return inv, nil
	case len(operands) == 1:
		inv.mountpoint = operands[0]
	case len(operands) == 2:
		inv.helper = true
		inv.source, inv.mountpoint = operands[0], operands[1]
		if inv.source == "" {
			inv.source = "snapfs"
		}
	default:
		return inv, usageErrorf("want MOUNTPOINT, or SOURCE MOUNTPOINT, got %d operands", len(operands))
	}
	if inv.mountpoint == "" {
		return inv, usageErrorf("empty mount point")
	}
	if strings.HasPrefix(inv.mountpoint, "/dev/fd/") {
		// mount.fuse3 mounts itself and passes /dev/fd/N with
		// drop_privileges. snapfs must stay root to run LVM.
		return inv, usageErrorf("mount point %s: drop_privileges is not supported, snapfs runs LVM and must stay root", inv.mountpoint)
	}

	inv.mountFlags = defaultMountFlags
	for _, o := range options {
		if err := inv.parseMountOptions(o); err != nil {
			return inv, usageErrorf("-o %s: %v", o, err)
		}
	}
	if level != "" {
		l, err := parseLevel(level)
		if err != nil {
			return inv, usageErrorf("-log-level: %v", err)
		}
		inv.level = l
	}
	if *debug {
		inv.level = slog.LevelDebug
		inv.debugFUSE = true
	}
	return inv, nil
}

// defaultMountFlags are always set: a snapshot's files/ shows a DomU's file
// system, whose setuid programs and device nodes must not work in Dom0.
const defaultMountFlags = syscall.MS_NOSUID | syscall.MS_NODEV

// mountFlagOptions are the generic mount options that snapfs passes to the
// kernel as mount flags, as mount(8) would: each sets and clears bits.
var mountFlagOptions = map[string]struct{ set, clear uintptr }{
	"ro":          {set: syscall.MS_RDONLY},
	"rw":          {clear: syscall.MS_RDONLY},
	"noexec":      {set: syscall.MS_NOEXEC},
	"exec":        {clear: syscall.MS_NOEXEC},
	"sync":        {set: syscall.MS_SYNCHRONOUS},
	"async":       {clear: syscall.MS_SYNCHRONOUS},
	"dirsync":     {set: syscall.MS_DIRSYNC},
	"noatime":     {set: syscall.MS_NOATIME},
	"atime":       {clear: syscall.MS_NOATIME},
	"nodiratime":  {set: syscall.MS_NODIRATIME},
	"diratime":    {clear: syscall.MS_NODIRATIME},
	"relatime":    {set: syscall.MS_RELATIME},
	"norelatime":  {clear: syscall.MS_RELATIME},
	"strictatime": {set: syscall.MS_STRICTATIME},
	// Accepted, but nosuid and nodev stay: see defaultMountFlags.
	// mount.fuse3 adds "dev,suid" to every mount by root that does not
	// say nodev or nosuid.
	"dev":    {},
	"nodev":  {},
	"suid":   {},
	"nosuid": {},
}

// ignoredMountOptions are options for mount(8), fstab and systemd rather
// than for the file system. mount(8) and mount.fuse3 drop most of them
// before they reach snapfs; snapfs ignores them when called directly.
var ignoredMountOptions = map[string]bool{
	"defaults": true, "auto": true, "noauto": true, "user": true, "nouser": true,
	"users": true, "owner": true, "group": true, "nofail": true, "_netdev": true,
	"loop": true,
}

// parseMountOptions applies one -o value: comma-separated options.
func (inv *invocation) parseMountOptions(s string) error {
	for _, opt := range strings.Split(s, ",") {
		name, value, hasValue := strings.Cut(opt, "=")
		switch {
		case opt == "":
		case name == "config" && hasValue:
			if value == "" {
				return errors.New("config= needs a file")
			}
			if inv.configPath != "" && inv.configPath != value {
				return fmt.Errorf("config=%s: the configuration is already %s", value, inv.configPath)
			}
			inv.configPath = value
		case name == "log_level" && hasValue:
			l, err := parseLevel(value)
			if err != nil {
				return fmt.Errorf("log_level: %v", err)
			}
			inv.level = l
		case opt == "debug":
			inv.level = slog.LevelDebug
			inv.debugFUSE = true
		case opt == "allow_other":
			inv.allowOther = true
		case opt == "default_permissions":
			// Always on: the kernel checks the modes snapfs reports.
		case isFlagOption(opt):
			f := mountFlagOptions[opt]
			inv.mountFlags = (inv.mountFlags|f.set)&^f.clear | defaultMountFlags
		case ignoredMountOptions[opt], strings.HasPrefix(opt, "x-"), name == "comment" && hasValue:
			inv.ignoredOptions = append(inv.ignoredOptions, opt)
		default:
			return fmt.Errorf("unknown mount option %q (snapfs takes config=FILE, allow_other, debug, log_level=LEVEL and the generic options ro, rw, noexec, noatime...)", opt)
		}
	}
	return nil
}

func isFlagOption(opt string) bool {
	_, ok := mountFlagOptions[opt]
	return ok
}

// config reads the configuration the command line names, or the default
// one, and applies the mount options that override it.
func (inv invocation) config() (Config, error) {
	path, explicit := inv.configPath, inv.configPath != ""
	if !explicit {
		path = DefaultConfigPath
	}
	cfg, err := loadConfig(path, explicit)
	if err != nil {
		return cfg, err
	}
	cfg.AllowOther = cfg.AllowOther || inv.allowOther
	return cfg, nil
}

// parseLevel reads a log level: debug, info, warn (or warning), error.
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q: want debug, info, warn or error", s)
}
