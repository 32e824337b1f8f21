package main

import (
	"fmt"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// writePlot draws the scaling table into a PNG file at path: three panels
// side by side over the number of LVs (a log scale), the walk's time per
// entry (cold and warm), snapfs's resident memory and the ratio of mkdir to
// lvcreate -s, each with its target, when it has one, dashed.
func writePlot(points []scalePoint, path string) error {
	if len(points) == 0 {
		return fmt.Errorf("no points")
	}
	series := func(y func(scalePoint) float64) plotter.XYs {
		xys := make(plotter.XYs, len(points))
		for i, p := range points {
			xys[i].X, xys[i].Y = float64(p.lvs), y(p)
		}
		return xys
	}
	var ticks plot.ConstantTicks
	for _, p := range points {
		ticks = append(ticks, plot.Tick{Value: float64(p.lvs), Label: fmt.Sprint(p.lvs)})
	}
	lo, hi := float64(points[0].lvs), float64(points[len(points)-1].lvs)
	panel := func(title, unit string) *plot.Plot {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "LVs (half of them snapshots)"
		p.Y.Label.Text = unit
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = ticks
		p.Y.Min = 0
		p.Add(plotter.NewGrid())
		p.Legend.Top = true
		p.Legend.Left = true
		return p
	}
	add := func(p *plot.Plot, name string, color int, xys plotter.XYs) error {
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		l.Color, s.Color = plotutil.Color(color), plotutil.Color(color)
		s.Shape = plotutil.Shape(color)
		p.Add(l, s)
		p.Legend.Add(name, l, s)
		return nil
	}
	target := func(p *plot.Plot, name string, y func(lvs float64) float64) {
		f := plotter.NewFunction(y)
		f.XMin, f.XMax = lo, hi
		f.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		f.Color = plotutil.Color(2)
		p.Add(f)
		p.Legend.Add(name, f)
		p.Y.Max = max(p.Y.Max, y(hi))
	}

	walk := panel("ls -lR of the tree", "ms per entry")
	if err := add(walk, "cold", 0, series(scalePoint.coldPerEntry)); err != nil {
		return err
	}
	if err := add(walk, "warm", 1, series(scalePoint.warmPerEntry)); err != nil {
		return err
	}
	rss := panel("snapfs's memory after the walks", "RSS, MB")
	if err := add(rss, "RSS", 0, series(func(p scalePoint) float64 { return megabytes(p.rssKB) })); err != nil {
		return err
	}
	target(rss, "target (40 MB to 1,000 LVs, 80 at 5,000)", func(lvs float64) float64 { return memTarget(int(lvs)) })
	mkdir := panel("mkdir against a bare lvcreate -s", "mkdir / lvcreate -s")
	if err := add(mkdir, "ratio of the medians", 0, series(scalePoint.ratio)); err != nil {
		return err
	}
	target(mkdir, fmt.Sprintf("target %g", snapshotTarget), func(float64) float64 { return snapshotTarget })

	// Room above the lines for the legend.
	for _, p := range []*plot.Plot{walk, rss, mkdir} {
		p.Y.Max *= 1.35
	}
	img := vgimg.NewWith(vgimg.UseWH(vg.Points(960), vg.Points(320)), vgimg.UseDPI(96))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 3, PadX: vg.Points(18), PadTop: vg.Points(6), PadBottom: vg.Points(6),
		PadLeft: vg.Points(6), PadRight: vg.Points(12)}
	canvases := plot.Align([][]*plot.Plot{{walk, rss, mkdir}}, tiles, dc)
	for i, p := range []*plot.Plot{walk, rss, mkdir} {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
