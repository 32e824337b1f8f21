vg-o
vg-o-real
vg-s1
vg-s1-cow
