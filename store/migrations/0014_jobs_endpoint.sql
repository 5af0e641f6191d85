-- An endpoint's page lists the jobs about it (store/jobs.go, FindJobs with
-- EndpointID), as a certificate's page does through jobs_certificate.
CREATE INDEX jobs_endpoint ON jobs(endpoint_id) WHERE endpoint_id IS NOT NULL;
