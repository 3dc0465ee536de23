//! What the operator fills in: cloud accounts, cluster profiles (layers of packs), cluster specs
//! with node pools, and their validation.
