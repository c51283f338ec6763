"""Tests of the federation redirector (federation/), offline, on loopback only."""
