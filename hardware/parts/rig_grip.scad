// mrig grip: a base plate that holds a Raspberry Pi 4/5 lying flat and the HQ Camera standing
// at the front, with a hand grip on the right carrying the shutter button and the status LED,
// and a 1/4"-20 tripod insert under the grip. The camera ribbon runs over the plate from the
// camera's back to the Pi. Print flat side down, no supports needed
// except the button/LED holes' bridging (fine on most printers). PLA or PETG, 0.2 mm layers.
//
// All sizes are parameters: override them on the command line, e.g.
//   openscad -o rig_grip.stl -D button_d=16 rig_grip.scad

include <common.scad>

wall = 3;               // plate and wall thickness
clearance = 1;          // around the boards
standoff_h = 5;         // Pi board above the plate (room for the cables under it)
button_d = 12.2;        // panel hole of the shutter button (12 mm tactile cap / panel switch)
led_d = 5.2;            // 5 mm LED in a friction-fit hole (3.2 for a 3 mm LED)
grip_size = [30, 60, 60];   // width (x), depth (y), height (z) of the hand grip
lens_axis_h = 30;       // lens axis height above the plate's underside
$fn = 48;

plate = [pi_board[0] + 2 * clearance + 2 * wall, pi_board[1] + 2 * clearance + 2 * wall + 12, wall];

module pi_standoffs() {
    for (x = [0, pi_holes[0]], y = [0, pi_holes[1]])
        translate([wall + clearance + pi_hole_inset + x, 12 + wall + clearance + pi_hole_inset + y, wall])
            standoff(standoff_h);
}

// The upright front wall holding the HQ Camera, board facing backwards, lens forwards (-y).
module camera_wall() {
    w = hq_board[0] + 2 * wall;
    h = lens_axis_h + hq_board[1] / 2 + wall;
    cx = plate[0] / 2;
    difference() {
        translate([cx - w / 2, 0, 0]) cube([w, wall, h]);
        // opening for the mount and back-focus ring
        translate([cx, -0.1, lens_axis_h]) rotate([-90, 0, 0]) cylinder(h = wall + 0.2, d = hq_mount_d);
        // screw holes on the 30 mm grid
        for (dx = [-hq_holes / 2, hq_holes / 2], dz = [-hq_holes / 2, hq_holes / 2])
            translate([cx + dx, -0.1, lens_axis_h + dz]) rotate([-90, 0, 0])
                cylinder(h = wall + 0.2, d = hq_hole_d);
    }
}

module grip() {
    translate([plate[0], 0, 0]) difference() {
        cube(grip_size);
        // hollow, open at the back for the button and LED wires
        translate([wall, wall, wall]) cube([grip_size[0] - 2 * wall, grip_size[1], grip_size[2] - 2 * wall]);
        // shutter button on top, towards the front where the index finger rests
        translate([grip_size[0] / 2, 15, grip_size[2] - wall - 0.1]) cylinder(h = wall + 0.2, d = button_d);
        // status LED on top, behind the button
        translate([grip_size[0] / 2, 35, grip_size[2] - wall - 0.1]) cylinder(h = wall + 0.2, d = led_d);
    }
}

// The tripod insert sits in a boss on the grip's floor, from below: under the grip the plate
// has no board above it, and the grip's mass is where the rig balances with a lens on.
tripod_at = [plate[0] + grip_size[0] / 2, grip_size[1] / 2];

module rig_grip() {
    difference() {
        union() {
            cube(plate);
            pi_standoffs();
            camera_wall();
            grip();
            translate(tripod_at) cylinder(h = tripod_insert_depth + 1, d = tripod_insert_d + 6);
        }
        translate([tripod_at[0], tripod_at[1], -0.1]) cylinder(h = tripod_insert_depth, d = tripod_insert_d);
    }
}

rig_grip();
