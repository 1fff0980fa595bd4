UPDATE EVENTPIPE_SHARE.SHARE_PRIVATE.SHARING_ACCESS SET pii_allowed = TRUE WHERE snowflake_account = 'ACME_ANALYTICS' AND organization_id IN ('org-a1', 'org-a2');
