-- moonbak script scripts/fields-table.lua: prints the README's table of
-- the keys each source and storage takes, made from the adapters' schemas
-- (tests/lua/test_schema.lua checks that README.md has this one).
io.write(require("moonbak.schema").markdown())
