-- Expire sweeps link requests and invites by expiry time.
CREATE INDEX link_requests_expires ON link_requests(expires_at);
CREATE INDEX invites_expires ON invites(expires_at);
