//! Route tables: Adj-RIB-In, Loc-RIB, Adj-RIB-Out and the decision process. Pure.
