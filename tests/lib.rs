//! Nothing here: this package only holds the black-box contract suite in `api/`.
