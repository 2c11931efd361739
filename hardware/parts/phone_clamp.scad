// Phone clamp: holds the phone above the rig as a viewfinder. A U-shaped cradle sized to the
// phone (with its case), gripping it by the long edges, on a foot with a 1/4"-20 insert so it
// screws onto a small ball head or a cold-shoe adapter on the rig. Print on its back, no supports.
//
//   openscad -o phone_clamp.stl -D phone_width=78 -D phone_thickness=11 phone_clamp.scad

include <common.scad>

phone_width = 76;        // across the phone, case included
phone_thickness = 10;    // front to back, case included
grip_depth = 40;         // how much of the phone's length the clamp covers
lip = 3;                 // how far the lips reach over the screen edge
wall = 3;
fit = 0.4;               // clearance: the flex of the arms does the gripping
foot = [30, 30, 10];
$fn = 48;

inner = [phone_width + fit, phone_thickness + fit];

module cradle() {
    difference() {
        cube([inner[0] + 2 * wall, inner[1] + 2 * wall, grip_depth]);
        // the phone
        translate([wall, wall, -0.1]) cube([inner[0], inner[1], grip_depth + 0.2]);
        // the screen side stays open except the lips
        translate([wall + lip, wall + inner[1] - 0.1, -0.1])
            cube([inner[0] - 2 * lip, wall + 0.2, grip_depth + 0.2]);
    }
}

module phone_clamp() {
    cradle();
    // foot on the back of the cradle with the tripod insert
    translate([(inner[0] + 2 * wall - foot[0]) / 2, -foot[2], (grip_depth - foot[1]) / 2])
        difference() {
            cube([foot[0], foot[2], foot[1]]);
            translate([foot[0] / 2, -0.1, foot[1] / 2]) rotate([-90, 0, 0])
                cylinder(h = tripod_insert_depth, d = tripod_insert_d);
        }
}

phone_clamp();
