"""OpenADR 2.0b conformance suites (VTN under test), organised by the N1/E1/P1/R1 case families."""
