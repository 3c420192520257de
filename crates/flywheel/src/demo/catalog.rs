//! The demo brand: a tea-and-coffee chain with four sub-brands, eight categories,
//! thirty-odd products and stores in eight cities.

pub struct Product {
    pub sku: &'static str,
    pub sub_brand: &'static str,
    pub category: &'static str,
    /// Price in fen.
    pub price: i64,
}

const fn p(
    sku: &'static str,
    sub_brand: &'static str,
    category: &'static str,
    price: i64,
) -> Product {
    Product {
        sku,
        sub_brand,
        category,
        price,
    }
}

pub const PRODUCTS: &[Product] = &[
    p("LEAF-OOLONG-MILK", "leaf_house", "milk_tea", 1800),
    p("LEAF-JASMINE-MILK", "leaf_house", "milk_tea", 1600),
    p("LEAF-BROWN-SUGAR", "leaf_house", "milk_tea", 1900),
    p("LEAF-GRAPE-CHEESE", "leaf_house", "fruit_tea", 2600),
    p("LEAF-MANGO-POMELO", "leaf_house", "fruit_tea", 2400),
    p("LEAF-LEMON-BLACK", "leaf_house", "fruit_tea", 1500),
    p("LEAF-LONGJING", "leaf_house", "pure_tea", 1200),
    p("LEAF-PUER", "leaf_house", "pure_tea", 1400),
    p("ROAST-AMERICANO", "roast_lab", "espresso", 1500),
    p("ROAST-LATTE", "roast_lab", "espresso", 2200),
    p("ROAST-FLAT-WHITE", "roast_lab", "espresso", 2500),
    p("ROAST-OAT-LATTE", "roast_lab", "espresso", 2600),
    p("ROAST-COCONUT", "roast_lab", "espresso", 2700),
    p("ROAST-COLD-BREW", "roast_lab", "cold_brew", 2400),
    p("ROAST-NITRO", "roast_lab", "cold_brew", 2900),
    p("BAKE-CROISSANT", "dawn_bakery", "pastry", 1300),
    p("BAKE-EGG-TART", "dawn_bakery", "pastry", 900),
    p("BAKE-MOONCAKE-BOX", "dawn_bakery", "pastry", 16800),
    p("BAKE-BAGEL", "dawn_bakery", "pastry", 1100),
    p("HOME-BEANS-YUNNAN", "home_brew", "beans", 8800),
    p("HOME-BEANS-ETHIOPIA", "home_brew", "beans", 12800),
    p("HOME-DRIP-BAGS", "home_brew", "beans", 5900),
    p("HOME-TEA-GIFT-BOX", "home_brew", "tea_gifts", 29900),
    p("HOME-OOLONG-TIN", "home_brew", "tea_gifts", 13800),
    p("HOME-TUMBLER", "home_brew", "merchandise", 12900),
    p("HOME-MUG", "home_brew", "merchandise", 6900),
    p("HOME-GRINDER", "home_brew", "merchandise", 45900),
];

pub const CITIES: &[&str] = &[
    "Shanghai",
    "Hangzhou",
    "Beijing",
    "Shenzhen",
    "Chengdu",
    "Guangzhou",
    "Wuhan",
    "Nanjing",
];

/// Stores per city: `store-<city>-<n>`.
pub const STORES_PER_CITY: u32 = 4;

pub const OCCUPATIONS: &[&str] = &[
    "engineer",
    "teacher",
    "designer",
    "student",
    "nurse",
    "accountant",
    "sales",
    "founder",
    "lawyer",
    "barista",
];

pub const SURNAMES: &[&str] = &[
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Xu", "Sun",
];
pub const GIVEN: &[&str] = &[
    "Wei", "Fang", "Na", "Min", "Jing", "Lei", "Yan", "Tao", "Qiang", "Hui", "Xin", "Yu", "Jie",
    "Ling",
];

pub const FEEDBACK_CATEGORIES: &[&str] =
    &["taste", "service", "delivery", "price", "packaging", "app"];

/// What members suggest, by feedback category (the same order): the co-creation
/// board's ideas. Chosen by the person's number and event count, not the random stream.
pub const SUGGESTIONS: &[&[&str]] = &[
    &[
        "A less sweet version of the osmanthus oolong",
        "Cold-brew sachets for summer",
        "A sampler of three single-origin greens",
    ],
    &[
        "Let me book a tasting at the counter from the app",
        "Staff notes on how to brew each tea, printed on the receipt",
    ],
    &[
        "Evening delivery slots for office orders",
        "A plastic-free mailer for online orders",
    ],
    &[
        "A refill price for bringing the tin back",
        "Family bundles at a better price",
    ],
    &[
        "A travel tin that fits a jacket pocket",
        "Resealable pouches instead of single-use bags",
        "Bigger print for the brewing temperature on the tin",
    ],
    &[
        "Show how many points I will earn before I pay",
        "A brewing timer in the mini-program",
    ],
];

/// The shop assistants' WeCom customer groups: chat id and the name staff give it.
pub const DEMO_GROUPS: &[(&str, &str)] = &[
    ("wrZhaoTeaLovers01", "Zhao's tea lovers"),
    ("wrLiCoffeeFriend1", "Li's coffee friends"),
    ("wrFlagshipSalons1", "Flagship salon club"),
];
