package lvm

import "testing"

func TestParseAttr(t *testing.T) {
	a, err := ParseAttr("swi-a-s---")
	if err != nil {
		t.Fatal(err)
	}
	want := Attr{VolumeType: 's', Permissions: 'w', Allocation: 'i', Minor: '-', State: 'a',
		Open: '-', TargetType: 's', Zero: '-', Health: '-', Skip: '-'}
	if a != want {
		t.Errorf("ParseAttr = %+v, want %+v", a, want)
	}
	if a.String() != "swi-a-s---" {
		t.Errorf("String() = %q", a.String())
	}
	if a, err := ParseAttr(""); err != nil || a != (Attr{}) || a.String() != "" {
		t.Errorf("ParseAttr(\"\") = %+v, %v; want the zero Attr", a, err)
	}
	for _, bad := range []string{"swi-a-s--", "swi-a-s----", "x"} {
		if _, err := ParseAttr(bad); err == nil {
			t.Errorf("ParseAttr(%q) succeeded", bad)
		}
	}
}

// The attribute strings are the ones lvm 2.03.16 printed in
// testdata/lvm/report.
func TestAttrMethods(t *testing.T) {
	type flags struct {
		cow, merging, origin, mergingOrigin, pool, thinVol, thin, internal bool
		active, open, invalid, mergeFailed, skip, suspended                bool
	}
	tests := []struct {
		attr string
		want flags
	}{
		{"-wi-a-----", flags{active: true}},               // linear
		{"-wi-------", flags{}},                           // inactive linear
		{"owi-a-s---", flags{origin: true, active: true}}, // origin of COW snapshots
		{"Owi-aos---", flags{origin: true, mergingOrigin: true, active: true, open: true}},
		{"swi-a-s---", flags{cow: true, active: true}},                    // COW snapshot
		{"swi-I-s---", flags{cow: true, active: true, invalid: true}},     // invalid COW snapshot
		{"swi-m-s---", flags{cow: true, active: true, mergeFailed: true}}, // merge failed
		{"Swi-a-s---", flags{cow: true, merging: true, active: true}},     // merging COW snapshot
		{"Swi-s-s---", flags{cow: true, merging: true, active: true, suspended: true}},
		{"Swi-aos---", flags{cow: true, merging: true, active: true, open: true}},
		{"twi-aotz--", flags{pool: true, thin: true, active: true, open: true}}, // thin pool
		{"Vwi-a-tz--", flags{thinVol: true, thin: true, active: true}},          // thin volume
		{"Vwi---tz-k", flags{thinVol: true, thin: true, skip: true}},            // inactive thin snapshot
		{"owi-a-tz--", flags{origin: true, thin: true, active: true}},           // thin volume with a COW snapshot
		{"Owi-aotz--", flags{origin: true, mergingOrigin: true, thin: true, active: true, open: true}},
		{"Swi---tz-k", flags{merging: true, thinVol: true, thin: true, skip: true}}, // merging thin snapshot
		{"Twi-ao----", flags{internal: true, active: true, open: true}},             // [pool_tdata]
		{"ewi-ao----", flags{internal: true, active: true, open: true}},             // [pool_tmeta]
		{"ewi-------", flags{internal: true}},                                       // [lvol0_pmspare]
		{"iwi-aor---", flags{internal: true, active: true, open: true}},             // raid image
		{"rwi-a-r---", flags{active: true}},                                         // raid1
	}
	for _, tt := range tests {
		t.Run(tt.attr, func(t *testing.T) {
			a, err := ParseAttr(tt.attr)
			if err != nil {
				t.Fatal(err)
			}
			got := flags{
				cow: a.IsCOWSnapshot(), merging: a.IsMergingSnapshot(), origin: a.IsOrigin(),
				mergingOrigin: a.IsMergingOrigin(), pool: a.IsThinPool(), thinVol: a.IsThinVolume(),
				thin: a.IsThin(), internal: a.IsInternal(), active: a.Active(), open: a.IsOpen(),
				invalid: a.SnapshotInvalid(), mergeFailed: a.MergeFailed(), skip: a.SkipActivation(),
				suspended: a.Suspended(),
			}
			if got != tt.want {
				t.Errorf("%s:\n got %+v\nwant %+v", tt.attr, got, tt.want)
			}
		})
	}
}

func TestKind(t *testing.T) {
	attr := func(s string) Attr {
		a, err := ParseAttr(s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tests := []struct {
		name string
		lv   LV
		want Kind
	}{
		{"linear", LV{Attr: attr("-wi-a-----"), Role: []string{"public"}}, KindVolume},
		{"origin", LV{Attr: attr("owi-a-s---"), Role: []string{"public", "origin", "thickorigin"}}, KindVolume},
		{"raid", LV{Attr: attr("rwi-a-r---"), Role: []string{"public"}}, KindVolume},
		{"thin volume", LV{Attr: attr("Vwi-a-tz--"), PoolLV: "pool"}, KindVolume},
		{"thin origin of a COW snapshot", LV{Attr: attr("owi-a-tz--"), PoolLV: "pool"}, KindVolume},
		{"COW snapshot", LV{Attr: attr("swi-a-s---"), Origin: "lv1"}, KindCOWSnapshot},
		{"merging COW snapshot", LV{Attr: attr("Swi-a-s---"), Origin: "lv1", Hidden: true}, KindCOWSnapshot},
		{"thin snapshot", LV{Attr: attr("Vwi---tz-k"), Origin: "thin1", PoolLV: "pool"}, KindThinSnapshot},
		{"thin snapshot with COW snapshots", LV{Attr: attr("owi-a-tz-k"), Origin: "thin1", PoolLV: "pool"}, KindThinSnapshot},
		{"merging thin snapshot", LV{Attr: attr("Swi---tz-k"), Origin: "thin3", PoolLV: "pool", Hidden: true}, KindThinSnapshot},
		{"thin pool", LV{Attr: attr("twi-aotz--"), Role: []string{"private"}}, KindThinPool},
		{"pool data", LV{Attr: attr("Twi-ao----"), Hidden: true}, KindInternal},
		{"pool metadata", LV{Attr: attr("ewi-ao----"), Hidden: true}, KindInternal},
		{"hidden plain", LV{Attr: attr("-wi-------"), Hidden: true}, KindInternal},
		{"private role", LV{Attr: attr("-wi-a-----"), Role: []string{"private", "cache", "pool"}}, KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.lv.Kind(); got != tt.want {
				t.Errorf("Kind() = %v, want %v", got, tt.want)
			}
			snap := tt.want == KindCOWSnapshot || tt.want == KindThinSnapshot
			if tt.lv.IsSnapshot() != snap {
				t.Errorf("IsSnapshot() = %v, want %v", tt.lv.IsSnapshot(), snap)
			}
		})
	}
}
