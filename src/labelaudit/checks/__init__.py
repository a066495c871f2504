"""The checks an audit runs: the label rule, the data checks on one shared KNN graph."""
