DROP TABLE relay_leases;
DROP TABLE relay_cursors;
