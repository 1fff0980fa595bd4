INSERT INTO EVENTPIPE_SHARE.SHARE_PRIVATE.SHARING_ACCESS (organization_id, snowflake_account, pii_allowed) VALUES
    ('org-a3', 'ACME_ANALYTICS', FALSE);
