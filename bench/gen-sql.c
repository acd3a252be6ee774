/* gen-sql.c — writes a synthetic but realistic PostgreSQL dump to stdout.
 *
 *   cc -O2 -o gen-sql gen-sql.c && ./gen-sql 800 > dump.sql     (size in MB)
 *
 * Five tables in the shape pg_dump writes them (DDL, then COPY blocks, one
 * table in INSERT form as `pg_dump --inserts` or mysqldump would): customers,
 * products, orders, order_items, events and an audit_log.  Values are drawn
 * from word lists and a seeded PRNG (the output is the same on every run):
 * names, addresses, emails, phone numbers, timestamps, prices, IPs, JSON
 * documents, free text and NULLs, so that zstd -3 compresses it about as well
 * as a real dump (roughly 3-5x), not as well as repeated text.
 * Buffered hand-rolled formatting: ~800 MB in well under 20 s. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- output buffer ---------------------------------------------------- */
static char obuf[1 << 20];
static size_t olen;
static uint64_t total;

static void flush_out(void) {
    if (olen && fwrite(obuf, 1, olen, stdout) != olen) { perror("gen-sql: write"); exit(1); }
    total += olen;
    olen = 0;
}
static inline void need(size_t n) { if (olen + n > sizeof obuf) flush_out(); }
static inline void ps(const char *s) { size_t n = strlen(s); need(n); memcpy(obuf + olen, s, n); olen += n; }
static inline void pc(char c) { need(1); obuf[olen++] = c; }
static void pu(uint64_t v) {
    char t[24]; int i = 0;
    do { t[i++] = (char)('0' + v % 10); v /= 10; } while (v);
    need((size_t)i);
    while (i) obuf[olen++] = t[--i];
}
static void pu0(uint64_t v, int width) {      /* zero padded */
    char t[24]; int i = 0;
    do { t[i++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (i < width) t[i++] = '0';
    need((size_t)i);
    while (i) obuf[olen++] = t[--i];
}
static uint64_t written(void) { return total + olen; }

/* ---- PRNG (xorshift64*) ------------------------------------------------ */
static uint64_t rs = 0x9E3779B97F4A7C15ull;
static inline uint64_t rnd(void) {
    rs ^= rs >> 12; rs ^= rs << 25; rs ^= rs >> 27;
    return rs * 0x2545F4914F6CDD1Dull;
}
static inline uint64_t rn(uint64_t n) { return rnd() % n; }
static inline int chance(int pct) { return (int)rn(100) < pct; }
/* skewed pick: low indexes much more frequent, like real name frequencies */
static inline size_t skew(size_t n) { uint64_t a = rn(n), b = rn(n); return (size_t)(a < b ? a : b); }
#define PICK(a) ((a)[rn(sizeof(a) / sizeof *(a))])
#define SKEW(a) ((a)[skew(sizeof(a) / sizeof *(a))])

/* ---- word lists -------------------------------------------------------- */
static const char *first[] = {
    "James","Mary","John","Patricia","Robert","Jennifer","Michael","Linda","William","Elizabeth",
    "David","Barbara","Richard","Susan","Joseph","Jessica","Thomas","Sarah","Charles","Karen",
    "Christopher","Nancy","Daniel","Lisa","Matthew","Betty","Anthony","Margaret","Mark","Sandra",
    "Donald","Ashley","Steven","Kimberly","Paul","Emily","Andrew","Donna","Joshua","Michelle",
    "Kenneth","Dorothy","Kevin","Carol","Brian","Amanda","George","Melissa","Edward","Deborah",
    "Ronald","Stephanie","Timothy","Rebecca","Jason","Sharon","Jeffrey","Laura","Ryan","Cynthia",
    "Jacob","Kathleen","Gary","Amy","Nicholas","Shirley","Eric","Angela","Jonathan","Helen",
    "Stephen","Anna","Larry","Brenda","Justin","Pamela","Scott","Nicole","Brandon","Emma",
    "Benjamin","Samantha","Samuel","Katherine","Gregory","Christine","Frank","Debra","Alexander","Rachel",
    "Raymond","Catherine","Patrick","Carolyn","Jack","Janet","Dennis","Ruth","Jerry","Maria",
    "Léa","Chloé","Lukas","Sophie","Mateo","Sofía","Hiroshi","Yuki","Wei","Mei","Olga","Ivan",
    "Aarav","Priya","Fatima","Omar","Noah","Mia","Elias","Ingrid","Björn","Zoë","Anaïs","Jürgen"};
static const char *last[] = {
    "Smith","Johnson","Williams","Brown","Jones","Garcia","Miller","Davis","Rodriguez","Martinez",
    "Hernandez","Lopez","Gonzalez","Wilson","Anderson","Thomas","Taylor","Moore","Jackson","Martin",
    "Lee","Perez","Thompson","White","Harris","Sanchez","Clark","Ramirez","Lewis","Robinson",
    "Walker","Young","Allen","King","Wright","Scott","Torres","Nguyen","Hill","Flores",
    "Green","Adams","Nelson","Baker","Hall","Rivera","Campbell","Mitchell","Carter","Roberts",
    "Gomez","Phillips","Evans","Turner","Diaz","Parker","Cruz","Edwards","Collins","Reyes",
    "Stewart","Morris","Morales","Murphy","Cook","Rogers","Gutierrez","Ortiz","Morgan","Cooper",
    "Peterson","Bailey","Reed","Kelly","Howard","Ramos","Kim","Cox","Ward","Richardson",
    "Müller","Schmidt","Schneider","Fischer","Weber","Dubois","Lefèvre","Moreau","Rossi","Bianchi",
    "Tanaka","Suzuki","Wang","Zhang","Ivanov","Kowalski","Novák","Nielsen","Jensen","O'Brien",
    "Van der Berg","De Vries","Papadopoulos","Yilmaz","Kaya","Silva","Santos","Pereira","Costa","Haddad"};
static const char *street[] = {
    "Main","Oak","Pine","Maple","Cedar","Elm","Washington","Lake","Hill","Park","Sunset","Lincoln",
    "Jackson","Church","River","Highland","Forest","Meadow","Ridge","Spring","Willow","Chestnut",
    "Walnut","Franklin","Jefferson","Madison","Adams","Mill","Center","North","South","Victoria",
    "King","Queen","Station","School","Bridge","Market","Garden","Harbor","Valley","Broad",
    "Rue de la Paix","Hauptstraße","Bahnhofstraße","Via Roma","Calle Mayor","Kingsway","High"};
static const char *suffix[] = {"St","Ave","Rd","Blvd","Ln","Dr","Ct","Way","Pl","Terrace","Circle"};
static const char *city[] = {
    "Springfield","Riverside","Franklin","Greenville","Bristol","Clinton","Fairview","Salem","Madison",
    "Georgetown","Arlington","Ashland","Burlington","Manchester","Oxford","Dover","Hudson","Milton",
    "Newport","Auburn","Dayton","Lexington","Milford","Winchester","Kingston","Portland","Jackson",
    "Chester","Cleveland","Marion","Oakland","Denver","Austin","Boston","Seattle","Chicago","Phoenix",
    "London","Paris","Berlin","Madrid","Rome","Lyon","Hamburg","Munich","Vienna","Zurich","Oslo",
    "Stockholm","Copenhagen","Amsterdam","Brussels","Lisbon","Dublin","Prague","Warsaw","Tokyo",
    "Osaka","Toronto","Montréal","Sydney","Melbourne","Auckland","São Paulo","Mexico City","Kraków"};
static const char *country[] = {"US","US","US","US","GB","FR","DE","ES","IT","NL","CA","AU","JP","BR","PL","SE","CH","IE","MX","NZ"};
static const char *domain[] = {
    "gmail.com","yahoo.com","hotmail.com","outlook.com","icloud.com","proton.me","aol.com",
    "gmx.de","web.de","orange.fr","free.fr","example.org","mail.ru","fastmail.com","yandex.com",
    "acme-corp.com","globex.net","initech.io","umbrella.co","hooli.xyz","piedpiper.com"};
static const char *adj[] = {
    "Classic","Premium","Deluxe","Eco","Ultra","Compact","Portable","Wireless","Smart","Vintage",
    "Organic","Heavy-Duty","Mini","Pro","Essential","Lightweight","Ergonomic","Stainless","Bamboo","Ceramic"};
static const char *noun[] = {
    "Backpack","Water Bottle","Desk Lamp","Headphones","Coffee Mug","Notebook","Keyboard","Mouse",
    "Chair","Blender","Kettle","Jacket","Sneakers","Umbrella","Tent","Sleeping Bag","Watch","Wallet",
    "Sunglasses","Charger","Cable","Speaker","Monitor Stand","Frying Pan","Knife Set","Yoga Mat",
    "Dumbbell","Bicycle Helmet","Candle","Plant Pot","Towel","Pillow","Blanket","Toothbrush","Scarf"};
static const char *color[] = {"black","white","red","blue","green","grey","navy","beige","olive","pink","orange","teal"};
static const char *category[] = {"home","kitchen","outdoor","electronics","apparel","sports","office","garden","beauty","toys"};
static const char *status[] = {"pending","paid","paid","shipped","shipped","shipped","delivered","delivered","delivered","delivered","cancelled","refunded"};
static const char *currency[] = {"USD","USD","USD","EUR","EUR","GBP","JPY","CAD","AUD","CHF"};
static const char *evkind[] = {"page_view","page_view","page_view","click","click","search","add_to_cart","login","logout","checkout","signup","error"};
static const char *path[] = {
    "/","/products","/cart","/checkout","/account","/search","/orders","/help","/blog","/login",
    "/products/%d","/category/%s","/orders/%d","/blog/%d-tips"};
static const char *agent[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.163 Mobile Safari/537.36",
    "curl/7.88.1","python-requests/2.31.0","Go-http-client/2.0"};
static const char *words[] = {
    "the","customer","asked","for","a","refund","because","package","arrived","late","and","damaged",
    "please","call","before","delivery","leave","at","front","door","gift","wrap","requested","address",
    "changed","after","order","was","placed","item","out","of","stock","backorder","expected","next",
    "week","support","ticket","opened","resolved","by","phone","email","sent","reminder","discount",
    "code","applied","loyalty","member","since","prefers","morning","weekend","shipping","express",
    "standard","international","customs","fee","paid","invalid","card","retry","succeeded","failed",
    "warehouse","picked","packed","label","printed","carrier","tracking","number","updated","note",
    "vip","fraud","check","passed","manual","review","signature","required","apartment","buzzer",
    "broken","neighbour","receives","parcels","do","not","bend","fragile","return","window","extended"};
static const char *audit_action[] = {"UPDATE","UPDATE","INSERT","DELETE","LOGIN","EXPORT"};
static const char *audit_table[] = {"customers","orders","order_items","products","settings","users"};

/* ---- value formatters -------------------------------------------------- */
/* days since 1970-01-01 -> y, m, d (Howard Hinnant's civil_from_days) */
static void civil(int64_t z, int *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}
static void ts(int64_t t, int frac) {           /* 2023-04-05 12:34:56[.123456]+00 */
    int y, m, d; civil(t / 86400, &y, &m, &d);
    int64_t s = t % 86400;
    pu((uint64_t)y); pc('-'); pu0((uint64_t)m, 2); pc('-'); pu0((uint64_t)d, 2); pc(' ');
    pu0((uint64_t)(s / 3600), 2); pc(':'); pu0((uint64_t)(s / 60 % 60), 2); pc(':'); pu0((uint64_t)(s % 60), 2);
    if (frac) { pc('.'); pu0(rn(1000000), 6); }
    ps("+00");
}
static void date(int64_t t) {
    int y, m, d; civil(t / 86400, &y, &m, &d);
    pu((uint64_t)y); pc('-'); pu0((uint64_t)m, 2); pc('-'); pu0((uint64_t)d, 2);
}
static void money(uint64_t cents) { pu(cents / 100); pc('.'); pu0(cents % 100, 2); }
static void lower(const char *s) {              /* ASCII-lowercased, spaces and quotes dropped */
    for (; *s; s++) {
        char c = *s;
        if (c == ' ' || c == '\'') continue;
        pc(c >= 'A' && c <= 'Z' ? (char)(c + 32) : c);
    }
}
static void sentence(int nmin, int nmax, int sql) { /* free text; sql: quote-safe anyway */
    (void)sql;
    int n = nmin + (int)rn((uint64_t)(nmax - nmin + 1));
    for (int i = 0; i < n; i++) {
        if (i) pc(' ');
        if (chance(4)) pu(rn(10000)); else ps(SKEW(words));
    }
    pc('.');
}
static void ip(void) {
    if (chance(15)) {                           /* IPv6 */
        ps("2001:db8:"); for (int i = 0; i < 4; i++) { if (i) pc(':'); static const char hx[] = "0123456789abcdef";
            for (int j = 0; j < 4; j++) pc(hx[rn(16)]); }
        return;
    }
    pu(rn(223) + 1); pc('.'); pu(rn(256)); pc('.'); pu(rn(256)); pc('.'); pu(rn(254) + 1);
}
static void phone(void) {
    if (chance(60)) { ps("+1-"); pu0(rn(800) + 200, 3); pc('-'); pu0(rn(900) + 100, 3); pc('-'); pu0(rn(10000), 4); }
    else { ps("+"); pu(rn(90) + 10); pc(' '); pu0(rn(1000000000), 9); }
}

static const int64_t T0 = 1514764800;   /* 2018-01-01 */
static const int64_t SPAN = 6 * 365 * 86400LL;

/* ---- tables ------------------------------------------------------------ */
static uint64_t n_customers, n_products;

static void customer_row(uint64_t id) {
    const char *f = SKEW(first), *l = SKEW(last);
    pu(id); pc('\t'); ps(f); pc('\t'); ps(l); pc('\t');
    lower(f); pc(chance(50) ? '.' : '_'); lower(l); if (chance(60)) pu(rn(chance(50) ? 100 : 10000));
    pc('@'); ps(SKEW(domain)); pc('\t');
    if (chance(12)) ps("\\N"); else phone(); pc('\t');
    pu(rn(9900) + 1); pc(' '); ps(PICK(street)); pc(' '); ps(PICK(suffix));
    if (chance(20)) { ps(", Apt "); pu(rn(400) + 1); }
    pc('\t'); ps(SKEW(city)); pc('\t');
    pu0(rn(100000), 5); pc('\t'); ps(SKEW(country)); pc('\t');
    date(T0 - 40 * 365 * 86400LL + (int64_t)rn(50 * 365) * 86400); pc('\t');
    ts(T0 + (int64_t)(id * (uint64_t)SPAN / (n_customers + 1)) + (int64_t)rn(3600), 1); pc('\t');
    ps(chance(85) ? "t" : "f"); pc('\t');
    if (chance(70)) ps("\\N"); else sentence(3, 18, 0);
    pc('\n');
}

static void product_row(uint64_t id) {
    pu(id); pc('\t'); ps("SKU-"); pu0(rn(100000000), 8); pc('\t');
    ps(PICK(adj)); pc(' '); ps(PICK(noun)); ps(" ("); ps(PICK(color)); pc(')'); pc('\t');
    ps(PICK(category)); pc('\t'); money(rn(50000) + 199); pc('\t'); pu(rn(5000)); pc('\t');
    ps("{\"weight_g\": "); pu(rn(20000) + 10); ps(", \"color\": \""); ps(PICK(color));
    ps("\", \"tags\": [\""); ps(PICK(category)); ps("\", \""); ps(PICK(adj)); ps("\"]}");
    pc('\n');
}

static void order_row(uint64_t id, uint64_t n_orders, uint64_t *items_out) {
    int64_t t = T0 + (int64_t)(id * (uint64_t)SPAN / (n_orders + 1)) + (int64_t)rn(600);
    const char *st = PICK(status);
    uint64_t items = 1 + rn(4) + (chance(10) ? rn(8) : 0);
    *items_out = items;
    pu(id); pc('\t'); pu(1 + rn(n_customers)); pc('\t'); ps(st); pc('\t');
    money(rn(items * 20000) + 500); pc('\t'); ps(PICK(currency)); pc('\t');
    ts(t, 1); pc('\t');
    if (!strcmp(st, "pending") || !strcmp(st, "paid") || !strcmp(st, "cancelled")) ps("\\N");
    else ts(t + 3600 + (int64_t)rn(5 * 86400), 0);
    pc('\t');
    /* metadata jsonb */
    ps("{\"channel\": \""); ps(chance(60) ? "web" : chance(70) ? "ios" : "android");
    ps("\", \"ip\": \""); ip(); ps("\", \"items\": "); pu(items);
    if (chance(30)) { ps(", \"coupon\": \""); for (int i = 0; i < 8; i++) pc((char)('A' + rn(26))); pc('"'); }
    if (chance(20)) { ps(", \"gift\": true, \"message\": \""); sentence(2, 10, 0); pc('"'); }
    ps(", \"session\": \""); static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) pc(hx[rn(16)]);
    ps("\"}");
    pc('\n');
}

static void item_row(uint64_t order_id, uint64_t line) {
    uint64_t p = 1 + skew(n_products);
    pu(order_id); pc('\t'); pu(line); pc('\t'); pu(p); pc('\t');
    pu(1 + (chance(80) ? 0 : rn(5))); pc('\t'); money(rn(50000) + 199); pc('\t');
    if (chance(75)) ps("\\N"); else { pu(5 * (1 + rn(6))); }
    pc('\n');
}

static void event_row(uint64_t id, uint64_t n_events) {
    int64_t t = T0 + (int64_t)(id * (uint64_t)SPAN / (n_events + 1));
    const char *k = SKEW(evkind);
    pu(id); pc('\t'); ts(t, 1); pc('\t');
    if (chance(25)) ps("\\N"); else pu(1 + rn(n_customers)); pc('\t');
    ps(k); pc('\t'); ip(); pc('\t'); ps(SKEW(agent)); pc('\t');
    const char *pth = PICK(path);
    ps("{\"path\": \"");
    for (const char *c = pth; *c; c++) {
        if (c[0] == '%' && c[1] == 'd') { pu(1 + rn(100000)); c++; }
        else if (c[0] == '%' && c[1] == 's') { ps(PICK(category)); c++; }
        else pc(*c);
    }
    ps("\", \"ms\": "); pu(rn(chance(90) ? 400 : 9000));
    if (!strcmp(k, "search")) { ps(", \"q\": \""); ps(PICK(adj)); pc(' '); ps(PICK(noun)); pc('"'); }
    if (!strcmp(k, "error")) { ps(", \"code\": "); pu(chance(50) ? 500 : 404); ps(", \"msg\": \""); sentence(3, 8, 0); pc('"'); }
    if (chance(30)) { ps(", \"ref\": \"https://"); ps(PICK(domain)); ps("/\""); }
    ps("}\n");
}

static void audit_insert(uint64_t id) {
    int64_t t = T0 + (int64_t)rn((uint64_t)SPAN);
    ps("INSERT INTO public.audit_log (id, at, actor, action, table_name, row_id, old_value, new_value) VALUES (");
    pu(id); ps(", '"); ts(t, 1); ps("', '");
    lower(SKEW(first)); pc('.'); lower(SKEW(last)); ps("', '"); ps(PICK(audit_action)); ps("', '");
    ps(PICK(audit_table)); ps("', "); pu(1 + rn(5000000)); ps(", ");
    if (chance(40)) ps("NULL"); else { ps("'{\"status\": \""); ps(PICK(status)); ps("\", \"qty\": "); pu(rn(20)); ps("}'"); }
    ps(", ");
    if (chance(10)) ps("NULL"); else { ps("'{\"status\": \""); ps(PICK(status)); ps("\", \"qty\": "); pu(rn(20)); ps(", \"note\": \""); sentence(2, 12, 1); ps("\"}'"); }
    ps(");\n");
}

/* ---- dump structure ---------------------------------------------------- */
static void header(void) {
    ps("--\n-- PostgreSQL database dump\n--\n\n"
       "-- Dumped from database version 15.5 (Debian 15.5-0+deb12u1)\n"
       "-- Dumped by pg_dump version 15.5 (Debian 15.5-0+deb12u1)\n\n"
       "SET statement_timeout = 0;\nSET lock_timeout = 0;\nSET client_encoding = 'UTF8';\n"
       "SET standard_conforming_strings = on;\nSELECT pg_catalog.set_config('search_path', '', false);\n"
       "SET check_function_bodies = false;\nSET client_min_messages = warning;\n\n"
       "CREATE TABLE public.customers (\n    id bigint NOT NULL,\n    first_name text NOT NULL,\n"
       "    last_name text NOT NULL,\n    email text NOT NULL,\n    phone text,\n    street text,\n"
       "    city text,\n    postcode text,\n    country character(2),\n    birth_date date,\n"
       "    created_at timestamp with time zone NOT NULL,\n    newsletter boolean,\n    notes text\n);\n\n"
       "CREATE TABLE public.products (\n    id bigint NOT NULL,\n    sku text NOT NULL,\n    name text NOT NULL,\n"
       "    category text,\n    price numeric(10,2),\n    stock integer,\n    attributes jsonb\n);\n\n"
       "CREATE TABLE public.orders (\n    id bigint NOT NULL,\n    customer_id bigint NOT NULL,\n    status text,\n"
       "    total numeric(12,2),\n    currency character(3),\n    created_at timestamp with time zone,\n"
       "    shipped_at timestamp with time zone,\n    metadata jsonb\n);\n\n"
       "CREATE TABLE public.order_items (\n    order_id bigint NOT NULL,\n    line integer NOT NULL,\n"
       "    product_id bigint NOT NULL,\n    quantity integer,\n    unit_price numeric(10,2),\n    discount_pct integer\n);\n\n"
       "CREATE TABLE public.events (\n    id bigint NOT NULL,\n    at timestamp with time zone,\n    customer_id bigint,\n"
       "    kind text,\n    ip inet,\n    user_agent text,\n    payload jsonb\n);\n\n"
       "CREATE TABLE public.audit_log (\n    id bigint NOT NULL,\n    at timestamp with time zone,\n    actor text,\n"
       "    action text,\n    table_name text,\n    row_id bigint,\n    old_value jsonb,\n    new_value jsonb\n);\n\n");
}

static void copy_begin(const char *t, const char *cols) {
    ps("\n--\n-- Data for Name: "); ps(t); ps("; Type: TABLE DATA; Schema: public; Owner: app\n--\n\n");
    ps("COPY public."); ps(t); ps(" ("); ps(cols); ps(") FROM stdin;\n");
}
static void copy_end(void) { ps("\\.\n\n"); }

int main(int argc, char **argv) {
    if (argc != 2 || atoll(argv[1]) <= 0) { fprintf(stderr, "usage: gen-sql SIZE_MB > dump.sql\n"); return 2; }
    uint64_t target = (uint64_t)atoll(argv[1]) * 1000000ull;
    /* share of the target per table; row counts estimated from average row sizes */
    n_customers = target * 12 / 100 / 175 + 1;
    n_products = 20000;
    uint64_t n_orders = target * 20 / 100 / 190 + 1;
    uint64_t n_events = target * 35 / 100 / 230 + 1;

    header();
    copy_begin("customers", "id, first_name, last_name, email, phone, street, city, postcode, country, birth_date, created_at, newsletter, notes");
    for (uint64_t i = 1; i <= n_customers; i++) customer_row(i);
    copy_end();
    copy_begin("products", "id, sku, name, category, price, stock, attributes");
    for (uint64_t i = 1; i <= n_products; i++) product_row(i);
    copy_end();

    /* orders, then their items, so that the remaining budget is shared */
    uint64_t *items = malloc((n_orders + 1) * sizeof *items);
    if (!items) { perror("gen-sql"); return 1; }
    copy_begin("orders", "id, customer_id, status, total, currency, created_at, shipped_at, metadata");
    for (uint64_t i = 1; i <= n_orders; i++) order_row(i, n_orders, &items[i]);
    copy_end();
    copy_begin("order_items", "order_id, line, product_id, quantity, unit_price, discount_pct");
    for (uint64_t i = 1; i <= n_orders; i++)
        for (uint64_t l = 1; l <= items[i]; l++) item_row(i, l);
    copy_end();
    free(items);

    copy_begin("events", "id, at, customer_id, kind, ip, user_agent, payload");
    for (uint64_t i = 1; i <= n_events; i++) event_row(i, n_events);
    copy_end();

    /* the rest of the budget: INSERT statements, until the target is reached */
    ps("\n--\n-- Data for Name: audit_log; Type: TABLE DATA; Schema: public; Owner: app\n--\n\n");
    for (uint64_t i = 1; written() < target; i++) audit_insert(i);

    ps("\n\nALTER TABLE ONLY public.customers\n    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);\n"
       "ALTER TABLE ONLY public.orders\n    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);\n"
       "ALTER TABLE ONLY public.events\n    ADD CONSTRAINT events_pkey PRIMARY KEY (id);\n"
       "CREATE INDEX orders_customer_id_idx ON public.orders USING btree (customer_id);\n"
       "CREATE INDEX events_at_idx ON public.events USING btree (at);\n\n"
       "--\n-- PostgreSQL database dump complete\n--\n\n");
    flush_out();
    if (fflush(stdout) != 0) { perror("gen-sql: write"); return 1; }
    fprintf(stderr, "gen-sql: %llu bytes\n", (unsigned long long)total);
    return 0;
}
