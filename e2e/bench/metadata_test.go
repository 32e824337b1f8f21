package main

import (
	"strings"
	"testing"
	"time"
)

// emptyVG is vgcfgbackup's output for a fresh VG on one PV, cut short.
const emptyVG = `contents = "Text Format Volume Group"
version = 1

bench {
	id = "xj0DEH-g9tD-4XGN-Va4A-qVUg-8G7v-87WxNk"
	seqno = 1
	extent_size = 8192

	physical_volumes {

		pv0 {
			id = "qwpG0X-8mem-0xD4-Gsct-cqwD-IcT1-vsWuds"
			pe_count = 255
		}
	}

}
`

func TestAddLVs(t *testing.T) {
	out, err := addLVs([]byte(emptyVG), population{Origins: 3, DataExtents: 4}, time.Unix(1795251065, 0))
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, want := range []string{
		"\tseqno = 2\n",
		"\t\to0002 {\n", "\t\tdata {\n", "\t\ts0002 {\n", "\t\tsnapshot2 {\n",
		"\t\t\t\torigin = \"o0002\"\n\t\t\t\tcow_store = \"s0002\"\n",
		"\t\t\t\textent_count = 4\n", // data
		"\t\t\t\t\t\"pv0\", 7\n",     // the first COW store, after 3 origins and data
		"\t\t}\n\t}\n}\n",            // logical_volumes closed inside the VG
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metadata lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "creation_time = 1795251065"); n != 3+1+3+3 {
		t.Errorf("%d LVs, want 10", n)
	}
	if _, err := addLVs(out, population{Origins: 1}, time.Now()); err == nil {
		t.Error("LVs added twice")
	}
}
