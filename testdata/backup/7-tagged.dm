vg-o
vg-o-real
vg-s3
vg-s3-cow
