"""Governments: the rules by which communes, the region and the state raise and share money."""
