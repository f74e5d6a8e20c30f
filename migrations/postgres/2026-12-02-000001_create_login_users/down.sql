DROP TABLE user_links;
DROP TABLE user_credentials;
