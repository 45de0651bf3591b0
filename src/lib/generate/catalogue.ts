import {Random, WeightedPicker} from './random.js'

export interface Product {
  id: string
  category: string
  /** List price in cents. */
  priceCents: number
  /** The price as the JSON number events carry. */
  price: number
  /** Words a visitor might search for. */
  words: string
}

/** Categories with the median price (in currency units) of their products. */
const CATEGORIES: readonly {name: string; median: number; words: readonly string[]}[] = [
  {name: 'books', median: 14, words: ['novel', 'cookbook', 'atlas', 'comic']},
  {name: 'music', median: 12, words: ['vinyl', 'album', 'cd', 'box set']},
  {name: 'garden', median: 28, words: ['hose', 'seeds', 'shears', 'planter']},
  {name: 'kitchen', median: 24, words: ['pan', 'knife', 'mug', 'kettle']},
  {name: 'toys', median: 19, words: ['puzzle', 'lego', 'doll', 'board game']},
  {name: 'beauty', median: 16, words: ['serum', 'lipstick', 'shampoo', 'perfume']},
  {name: 'fashion', median: 35, words: ['jacket', 'sneakers', 'scarf', 'jeans']},
  {name: 'sports', median: 32, words: ['yoga mat', 'football', 'bottle', 'racket']},
  {name: 'home', median: 30, words: ['lamp', 'cushion', 'rug', 'frame']},
  {name: 'electronics', median: 60, words: ['headphones', 'charger', 'speaker', 'keyboard']},
  {name: 'pets', median: 18, words: ['collar', 'kibble', 'leash', 'bed']},
  {name: 'office', median: 11, words: ['notebook', 'pen', 'stapler', 'folder']},
]

/** Spread of prices within a category (sigma of log price). */
const PRICE_SIGMA = 0.7
/** Zipf exponent of product popularity: the top product sells far more than the hundredth. */
const ZIPF_EXPONENT = 1.05

/**
 * A shop's catalogue: products in categories, lognormal prices, Zipf-like popularity. Built from its own random
 * stream so the catalogue depends only on the seed and the product count.
 */
export class Catalogue {
  readonly products: Product[]
  readonly categories: readonly string[] = CATEGORIES.map((c) => c.name)
  /** Products sorted by price, cheapest first (card testers pick from the bottom). */
  readonly cheapest: Product[]
  private readonly popularity: WeightedPicker

  constructor(size: number, seed: number) {
    const random = new Random(seed ^ 0x5eed_ca7a)
    const width = Math.max(5, String(size).length)
    this.products = []
    for (let i = 0; i < size; i++) {
      const category = CATEGORIES[i % CATEGORIES.length] as (typeof CATEGORIES)[number]
      const raw = random.lognormal(Math.log(category.median), PRICE_SIGMA)
      // Shop prices end in .99, and nothing costs less than 0.99.
      const priceCents = Math.max(99, Math.floor(raw) * 100 + 99)
      this.products.push({
        id: `p${String(i + 1).padStart(width, '0')}`,
        category: category.name,
        priceCents,
        price: priceCents / 100,
        words: random.pick(category.words),
      })
    }
    // Popularity rank is independent of price and category: shuffle, then weight by rank^-s.
    const order = this.products.map((_, i) => i)
    for (let i = order.length - 1; i > 0; i--) {
      const j = random.int(i + 1)
      ;[order[i], order[j]] = [order[j] as number, order[i] as number]
    }
    const weights = new Array<number>(size)
    order.forEach((productIndex, rank) => {
      weights[productIndex] = 1 / (rank + 1) ** ZIPF_EXPONENT
    })
    this.popularity = new WeightedPicker(weights)
    this.cheapest = [...this.products].sort((a, b) => a.priceCents - b.priceCents)
  }

  /** A product drawn by popularity. */
  popular(random: Random): Product {
    return this.products[this.popularity.pick(random)] as Product
  }
}
