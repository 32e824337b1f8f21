vg-o
