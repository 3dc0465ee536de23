//! A faithful MAAS 2.0 simulator: HTTP on loopback, a virtual clock, seeded fault injection.
//! A product feature (`kubemaas sim`, `kubemaas --demo`) as much as a test fixture.

pub mod describe;
pub mod inventory;
pub mod model;
pub mod render;
