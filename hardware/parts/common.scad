// Shared dimensions of the rig's boards, in millimetres. Sources: Raspberry Pi 4/5 and HQ Camera
// mechanical drawings (Raspberry Pi Ltd). Included by the parts; renders nothing by itself.

// Raspberry Pi 4 / 5: 85 x 56 board, four M2.5 holes on a 58 x 49 grid, 3.5 mm from the edge.
pi_board = [85, 56];
pi_holes = [58, 49];
pi_hole_inset = 3.5;
pi_hole_d = 2.7;

// HQ Camera: 38 x 38 board, four M2.5 holes on a 30 x 30 grid; the C/CS mount and its
// back-focus ring stand on the front, about 36 mm across the ring.
hq_board = [38, 38];
hq_holes = 30;
hq_hole_d = 2.7;
hq_mount_d = 36.5;

// M2.5 screw into printed plastic: a pilot hole the screw cuts its own thread in.
m25_pilot_d = 2.2;
// 1/4"-20 UNC heat-set insert for a tripod (typical insert: 8 mm outer, 8 mm long).
tripod_insert_d = 8.0;
tripod_insert_depth = 8.5;

// Standoff: a cylinder with a pilot hole, on the XY plane at the origin.
module standoff(h, d = 6, hole = m25_pilot_d) {
    difference() {
        cylinder(h = h, d = d);
        translate([0, 0, -0.1]) cylinder(h = h + 0.2, d = hole);
    }
}
