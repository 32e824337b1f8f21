vg-o
vg-o-real
vg-s--2
vg-s--2-cow
vg-s1
vg-s1-cow
